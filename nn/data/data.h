// Everything of tapegrad::data in one include: datasets, their readers, normalisation, augmentation, batches.
#pragma once

#include "augment.h"
#include "batch_loader.h"
#include "cifar10.h"
#include "idx.h"
#include "image_dataset.h"
#include "normalizer.h"
