// Everything of tapegrad::data in one include: datasets, their readers, normalisation, augmentation, batches.
#pragma once

#include <tapegrad/nn/data/augment.h>
#include <tapegrad/nn/data/batch_loader.h>
#include <tapegrad/nn/data/cifar10.h>
#include <tapegrad/nn/data/idx.h>
#include <tapegrad/nn/data/image_dataset.h>
#include <tapegrad/nn/data/normalizer.h>
