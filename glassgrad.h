#pragma once
// glassgrad: one include for the whole library.
//
//   #include <glassgrad.h>
//   auto w = gg::randn({3, 2}, {.requires_grad = true});
//   auto loss = gg::sum(gg::tanh(gg::matmul(x, w)));
//   loss.backward();   // w.grad() now holds d loss / d w
#include "core/dtype.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/shape.h"
#include "core/tensor.h"

#include "autograd/elementwise.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/graph.h"
#include "autograd/index.h"
#include "autograd/linalg.h"
#include "autograd/node.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "autograd/softmax.h"
