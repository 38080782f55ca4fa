// train::save_model_file / load_model_file: a model and its input normaliser in one file, loaded back into a fresh
// model that predicts as the original did (fitted statistics with a constant feature, the fixed scalings), and the
// files that are refused, without touching the model.
#include <tapegrad/nn/activation.h>
#include <tapegrad/nn/batch_norm.h>
#include <tapegrad/nn/linear.h>
#include <tapegrad/nn/safetensors.h>
#include <tapegrad/nn/sequential.h>
#include <tapegrad/nn/train/model_file.h>

#include <catch2/catch.hpp>
#include <limits>
#include <memory>
#include <string>

#include "tests/support/test_data.h"

using namespace tapegrad;
using tapegrad::testing::error_message;
using tapegrad::testing::TempDir;
using Catch::Contains;

namespace {

constexpr int features = 6;
constexpr int constant_feature = 2;

template <typename T>
std::shared_ptr<nn::Sequential<T>> make_model(std::uint64_t seed) {
  Generator generator(seed);
  auto model = std::make_shared<nn::Sequential<T>>();
  model->template emplace_back<nn::Linear<T>>(features, 5, nn::LinearOptions{}, generator);
  model->template emplace_back<nn::ReLU<T>>();
  model->template emplace_back<nn::Linear<T>>(5, 3, nn::LinearOptions{}, generator);
  return model;
}

// `count` images whose pixels vary with the image and the feature, but feature `constant_feature`, always 77.
data::ImageDataset make_images(int count, int offset) {
  data::ImageDataset images;
  images.shape = {1, 1, features};
  images.pixels.resize(features, count);
  for (int image = 0; image < count; ++image) {
    for (int f = 0; f < features; ++f)
      images.pixels(f, image) = static_cast<std::uint8_t>((37 * (image + offset) + 101 * f + f * f) % 256);
    images.pixels(constant_feature, image) = 77;
    images.labels.push_back(image % 3);
  }
  images.class_names = {"a", "b", "c"};
  return images;
}

// Every byte value in every feature: 256 images.
data::PixelMatrix every_byte() {
  data::PixelMatrix pixels(features, 256);
  for (int value = 0; value < 256; ++value) pixels.col(value).setConstant(static_cast<std::uint8_t>(value));
  return pixels;
}

template <typename T>
Matrix<T> scores(nn::Module<T>& model, const data::Normalizer& normalizer, const data::PixelMatrix& pixels) {
  NoGradGuard no_grad;
  return model(Tensor<T>::from(normalizer.apply<T>(pixels))).value();
}

// Each test's own directory for its model file, and a normaliser fitted on images with a constant feature.
struct ModelFileTest {
  TempDir directory{"model-file"};
  std::filesystem::path path = directory / "model.safetensors";
  data::ImageDataset training = make_images(40, 0);
  data::Normalizer fitted = data::Normalizer::fitted(training);
};

}  // namespace

TEST_CASE_METHOD(ModelFileTest,
                 "model file round trip: a fresh model and the loaded normaliser predict as the original",
                 "[model_file]") {
  REQUIRE(fitted.standard_deviation()[constant_feature] == 0.0);
  auto model = make_model<double>(1);
  const nn::SafetensorsMetadata metadata{{"classes", "[\"a\",\"b\",\"c\"]"}, {"note", "test"}};
  train::save_model_file(path, *model, fitted, features, {}, metadata);

  // The file holds what apply divides by: 1 for the constant feature, not its std of 0.
  const auto raw = nn::load_safetensors<double>(path);
  CHECK(raw.tensors.at("normalizer.std")(constant_feature, 0) == 1.0);
  CHECK(raw.tensors.at("normalizer.mean").rows() == features);

  auto loaded_model = make_model<double>(2);
  const data::PixelMatrix new_images = make_images(25, 1000).pixels;
  REQUIRE(scores(*loaded_model, fitted, new_images) != scores(*model, fitted, new_images));
  const train::LoadedModelFile<double> loaded = train::load_model_file(path, *loaded_model);
  // The metadata given, and how to apply the normaliser's columns without tapegrad.
  nn::SafetensorsMetadata expected = metadata;
  expected["normalizer"] =
      "x = (pixel / 255 - normalizer.mean) / normalizer.std, per feature (each of the two holds d values)";
  CHECK(loaded.metadata == expected);
  CHECK(loaded.extra.empty());
  CHECK(loaded.features == features);
  CHECK(loaded.normalizer.scaling() == data::Scaling::standardize);
  CHECK(loaded.normalizer.apply<double>(every_byte()) == fitted.apply<double>(every_byte()));
  CHECK(scores(*loaded_model, loaded.normalizer, new_images) == scores(*model, fitted, new_images));
  CHECK(scores(*loaded_model, loaded.normalizer, training.pixels) == scores(*model, fitted, training.pixels));
}

TEST_CASE_METHOD(ModelFileTest,
                 "model file in float: the model bit for bit, the normaliser to float rounding of its statistics",
                 "[model_file]") {
  auto model = make_model<float>(1);
  train::save_model_file(path, *model, fitted, features);
  auto loaded_model = make_model<float>(2);
  const auto loaded = train::load_model_file(path, *loaded_model);
  CHECK(loaded_model->state_dict() == model->state_dict());
  // The file's statistics are floats: the loaded normaliser starts from those, not from the fitted doubles.
  const Eigen::MatrixXf original = fitted.apply<float>(every_byte());
  const Eigen::MatrixXf restored = loaded.normalizer.apply<float>(every_byte());
  CHECK((restored - original).cwiseAbs().maxCoeff() <= 1e-6f * original.cwiseAbs().maxCoeff());
  CHECK(restored.row(constant_feature) == original.row(constant_feature));
}

TEMPLATE_TEST_CASE("model file round trip with a fixed scaling gives that scaling back, exact for every byte",
                   "[model_file]", float, double) {
  TempDir directory("model-file");
  const auto path = directory / "model.safetensors";
  for (const auto scaling : {data::Scaling::unit_interval, data::Scaling::symmetric_unit_interval}) {
    const data::Normalizer normalizer(scaling);
    auto model = make_model<TestType>(3);
    train::save_model_file(path, *model, normalizer, features);
    const auto raw = nn::load_safetensors<TestType>(path);
    const TestType mean = scaling == data::Scaling::unit_interval ? TestType(0) : TestType(0.5);
    CHECK(raw.tensors.at("normalizer.mean") == Matrix<TestType>::Constant(features, 1, mean));
    CHECK(raw.tensors.at("normalizer.std") == Matrix<TestType>::Constant(features, 1, 1 - mean));

    auto loaded_model = make_model<TestType>(4);
    const auto loaded = train::load_model_file(path, *loaded_model);
    CHECK(loaded.normalizer.scaling() == scaling);
    CHECK(loaded.features == features);
    CHECK(loaded.normalizer.template apply<TestType>(every_byte()) == normalizer.apply<TestType>(every_byte()));
    CHECK(scores(*loaded_model, loaded.normalizer, every_byte()) == scores(*model, normalizer, every_byte()));
  }
}

TEST_CASE_METHOD(ModelFileTest,
                 "model file: other tensors come back as extra, files of raw statistics (std 0) still load",
                 "[model_file]") {
  auto model = make_model<double>(1);
  // As k_layer_batchnorm wrote its files before: the fitted statistics as they are, a std of 0 included.
  nn::StateDict<double> extra;
  extra.insert("normalizer.mean", fitted.mean());
  extra.insert("normalizer.std", fitted.standard_deviation());
  extra.insert("class_weights", Matrix<double>::Constant(3, 1, 0.25));
  nn::save_module_safetensors(path, *model, extra);
  auto loaded_model = make_model<double>(2);
  const auto loaded = train::load_model_file(path, *loaded_model);
  CHECK(loaded.extra.names() == std::vector<std::string>{"class_weights"});
  CHECK(loaded.normalizer.apply<double>(every_byte()) == fitted.apply<double>(every_byte()));
}

TEST_CASE_METHOD(ModelFileTest,
                 "model file errors: a missing or mis-shaped normaliser or a misfit model change nothing",
                 "[model_file][errors]") {
  auto model = make_model<float>(1);
  auto target = make_model<float>(2);
  const nn::StateDict<float> target_before = target->state_dict();
  REQUIRE_FALSE(target_before == model->state_dict());
  const auto save_with = [&](std::initializer_list<std::pair<const char*, Matrix<float>>> tensors) {
    nn::StateDict<float> extra;
    for (const auto& [name, value] : tensors) extra.insert(name, value);
    nn::save_module_safetensors(path, *model, extra);
  };
  const auto load_error = [&] { return error_message([&] { train::load_model_file(path, *target); }); };
  const Matrix<float> column = Matrix<float>::Constant(features, 1, 0.25f);

  save_with({});
  std::string message = load_error();
  CHECK_THAT(message,
             Contains(path.string()) && Contains("no \"normalizer.mean\"") && Contains("save_model_file"));
  CHECK(target->state_dict() == target_before);

  save_with({{"normalizer.mean", column}});
  CHECK_THAT(load_error(), Contains("no \"normalizer.std\""));
  CHECK(target->state_dict() == target_before);

  save_with({{"normalizer.mean", column}, {"normalizer.std", Matrix<float>::Constant(features + 1, 1, 0.5f)}});
  message = load_error();
  CHECK_THAT(message, Contains(path.string()) && Contains("(6 x 1)") && Contains("(7 x 1)") && Contains("d x 1"));
  CHECK(target->state_dict() == target_before);

  save_with({{"normalizer.mean", Matrix<float>::Constant(2, features, 0.25f)}, {"normalizer.std", column}});
  CHECK_THAT(load_error(), Contains("(2 x 6)") && Contains("d x 1"));
  CHECK(target->state_dict() == target_before);

  save_with({{"normalizer.mean", column}, {"normalizer.std", -column}});
  CHECK_THAT(load_error(), Contains("not negative") && Contains(path.string()));
  CHECK(target->state_dict() == target_before);

  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    Matrix<float> spoilt = column;
    spoilt(3, 0) = bad;
    save_with({{"normalizer.mean", spoilt}, {"normalizer.std", column}});
    CHECK_THAT(load_error(), Contains("are not a normaliser") && Contains(path.string()));
    CHECK(target->state_dict() == target_before);
    save_with({{"normalizer.mean", column}, {"normalizer.std", spoilt}});
    CHECK_THAT(load_error(), Contains("are not a normaliser"));
    CHECK(target->state_dict() == target_before);
  }

  // A file of another model: the module's own check, which changes nothing either.
  auto wider = std::make_shared<nn::Sequential<float>>();
  Generator generator(5);
  wider->emplace_back<nn::Linear<float>>(features, 7, nn::LinearOptions{}, generator);
  train::save_model_file(path, *wider, data::Normalizer(data::Scaling::unit_interval), features);
  CHECK_THAT(load_error(), Contains("does not fit the module"));
  CHECK(target->state_dict() == target_before);

  // The same target loads a good file: the checks above did not pass for want of trying.
  train::save_model_file(path, *model, data::Normalizer(data::Scaling::unit_interval), features);
  train::load_model_file(path, *target);
  CHECK(target->state_dict() == model->state_dict());
}

TEST_CASE_METHOD(ModelFileTest, "model file saving refuses a normaliser that cannot apply, writing nothing",
                 "[model_file][errors]") {
  auto model = make_model<float>(1);
  std::string message = error_message([&] { train::save_model_file(path, *model, data::Normalizer(), features); });
  CHECK_THAT(message, Contains(path.string()) && Contains("fit"));
  message = error_message([&] { train::save_model_file(path, *model, fitted, features + 1); });
  CHECK_THAT(message, Contains("fitted on images of 6 features but these have 7"));
  // A fixed scaling applies to any size, so the size given is all there is: it must be one.
  for (const int none : {0, -1}) {
    message = error_message(
        [&] { train::save_model_file(path, *model, data::Normalizer(data::Scaling::unit_interval), none); });
    CHECK_THAT(message, Contains(path.string()) && Contains("at least 1 feature"));
  }
  nn::StateDict<float> clash;
  clash.insert("normalizer.std", Matrix<float>::Ones(features, 1));
  message = error_message([&] { train::save_model_file(path, *model, fitted, features, clash); });
  CHECK_THAT(message, Contains("\"normalizer.std\" would replace the normaliser's"));
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE_METHOD(
    ModelFileTest,
    "model file with BatchNorm: buffers and extra tensors round trip, and a bad file restores nothing "
    "because nothing was loaded",
    "[model_file]") {
  const auto make_normalised = [](std::uint64_t seed) {
    Generator generator(seed);
    auto model = std::make_shared<nn::Sequential<double>>();
    model->emplace_back<nn::Linear<double>>(features, 4, nn::LinearOptions{}, generator);
    model->emplace_back<nn::BatchNorm<double>>(4);
    model->emplace_back<nn::ReLU<double>>();
    model->emplace_back<nn::Linear<double>>(4, 3, nn::LinearOptions{}, generator);
    return model;
  };
  auto model = make_normalised(1);
  {  // a training-mode pass moves the running statistics away from their initial values
    const Tensor<double> x = Tensor<double>::from(fitted.apply<double>(training.pixels));
    (*model)(x);
  }
  model->eval();
  nn::StateDict<double> extra;
  extra.insert("class_weights", Matrix<double>::Constant(3, 1, 0.5));
  train::save_model_file(path, *model, fitted, features, extra, {{"normalizer", "my own words"}});

  auto loaded_model = make_normalised(2);
  loaded_model->eval();
  const auto loaded = train::load_model_file(path, *loaded_model);
  CHECK(loaded_model->state_dict() == model->state_dict());  // the running statistics (buffers) included
  CHECK(loaded.extra.names() == std::vector<std::string>{"class_weights"});
  CHECK(loaded.metadata.at("normalizer") == "my own words");  // the caller's entry is kept
  CHECK(scores(*loaded_model, loaded.normalizer, training.pixels) == scores(*model, fitted, training.pixels));

  // A file whose normaliser is unusable: the module, buffers included, is as it was.
  auto target = make_normalised(3);
  const nn::StateDict<double> before = target->state_dict();
  nn::StateDict<double> bad;
  bad.insert("normalizer.mean", Matrix<double>::Zero(features, 1));
  bad.insert("normalizer.std", Matrix<double>::Zero(features + 1, 1));
  nn::save_module_safetensors(path, *model, bad);
  CHECK_THAT(error_message([&] { train::load_model_file(path, *target); }), Contains("are not a normaliser"));
  CHECK(target->state_dict() == before);
}
