#pragma once
// glassgrad: one include for the whole library.
//
//   #include <glassgrad.h>
//   auto w = gg::randn({3, 2}, {.requires_grad = true});
//   auto loss = gg::sum(gg::tanh(gg::matmul(x, w)));
//   loss.backward();   // w.grad() now holds d loss / d w
#include "core/autocast.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profiler.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "core/shape.h"
#include "core/tensor.h"

#include "autograd/elementwise.h"
#include "autograd/embedding.h"
#include "autograd/fused_attention.h"
#include "autograd/fused_layer_norm.h"
#include "autograd/fused_rnn.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/graph.h"
#include "autograd/index.h"
#include "autograd/linalg.h"
#include "autograd/loss.h"
#include "autograd/node.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "autograd/softmax.h"

#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/functional.h"
#include "nn/gradcheck.h"
#include "nn/init.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/multihead.h"
#include "nn/rnn.h"
#include "nn/sequential.h"
#include "nn/transformer.h"

#include "optim/clip.h"
#include "optim/optimizer.h"
#include "optim/optimizers.h"
#include "optim/schedule.h"

#include "dist/comm.h"
#include "dist/data_parallel.h"

#include "data/batch.h"
#include "data/bleu.h"
#include "data/chrf.h"
#include "data/corpus.h"
#include "data/tokenizer.h"
#include "data/toy.h"
#include "data/utf8.h"
#include "data/vocab.h"
