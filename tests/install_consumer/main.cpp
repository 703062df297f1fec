// Links against an installed glassgrad and takes one gradient: exits 0 when d/dx sum(x*x) = 2x.
#include <glassgrad.h>

int main() {
  auto x = gg::tensor({1.0, 2.0, 3.0}, {.requires_grad = true});
  gg::sum(x * x).backward();
  auto g = x.grad().to_vector<double>();
  return (g[0] == 2.0 && g[1] == 4.0 && g[2] == 6.0) ? 0 : 1;
}
