// nn/train/csv.h: CSV cells in their shortest exact form, and the metrics file a run appends to row by row and a
// resumed run continues.
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/train/csv.h>

#include "tests/support/test_data.h"

namespace fs = std::filesystem;
using namespace tapegrad::train;
using tapegrad::testing::error_message;
using tapegrad::testing::FileSizeLimit;
using tapegrad::testing::read_bytes;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;


TEST_CASE("CsvCell writes numbers in their shortest exact form and quotes text only when needed",
          "[train][csv]") {
  CHECK(CsvCell(42).text() == "42");
  CHECK(CsvCell(std::size_t{7}).text() == "7");
  CHECK(CsvCell(-3L).text() == "-3");
  CHECK(CsvCell(0.1).text() == "0.1");
  CHECK(std::stod(CsvCell(1.0 / 3.0).text()) == 1.0 / 3.0);
  CHECK(CsvCell(0.25F).text() == "0.25");
  CHECK(CsvCell("train").text() == "train");
  CHECK(CsvCell(std::string("a,b")).text() == "\"a,b\"");
  CHECK(CsvCell("say \"hi\"").text() == "\"say \"\"hi\"\"\"");
  CHECK(CsvCell("two\nlines").text() == "\"two\nlines\"");
}

TEST_CASE("CsvAppender writes the header once and appends complete rows", "[train][csv]") {
  TempDir directory("csv");
  const fs::path path = directory / "metrics.csv";
  {
    CsvAppender metrics = CsvAppender::create(path, {"epoch", "loss", "split"});
    CHECK(read_bytes(path) == "epoch,loss,split\n");
    metrics.append_row({1, 2.5, "train"});
    metrics.append_row({2, 0.125, "validation"});
    CHECK(metrics.rows() == 2);
    // Every row is in the file as soon as append_row returns, before any close.
    CHECK(read_bytes(path) == "epoch,loss,split\n1,2.5,train\n2,0.125,validation\n");
    const std::string wrong_width = error_message([&] { metrics.append_row({3, 1.0}); });
    CHECK_THAT(wrong_width, Catch::Contains("2 cells"));
    CHECK_THAT(wrong_width, Catch::Contains("3 columns"));
    metrics.close();
  }
  CHECK(read_bytes(path) == "epoch,loss,split\n1,2.5,train\n2,0.125,validation\n");
  // create() starts afresh.
  CsvAppender again = CsvAppender::create(path, {"step"});
  CHECK(read_bytes(path) == "step\n");
}

TEST_CASE("CsvAppender::resume keeps the rows before the checkpoint and drops later and partial rows",
          "[train][csv]") {
  TempDir directory("csv");
  const fs::path path = directory / "metrics.csv";
  write_bytes(path, "epoch,note\n1,a\n2,\"line\nbreak\"\n3,c\n4,d\n5,partial wr");
  {
    CsvAppender metrics = CsvAppender::resume(path, {"epoch", "note"}, 2);
    CHECK(metrics.rows() == 2);
    CHECK(read_bytes(path) == "epoch,note\n1,a\n2,\"line\nbreak\"\n");
    metrics.append_row({3, "again"});
    CHECK(metrics.rows() == 3);
  }
  CHECK(read_bytes(path) == "epoch,note\n1,a\n2,\"line\nbreak\"\n3,again\n");

  // Keeping every complete row only cuts off the partial one.
  write_bytes(path, "epoch,note\n1,a\n2,b");
  CHECK(CsvAppender::resume(path, {"epoch", "note"}, 1).rows() == 1);
  CHECK(read_bytes(path) == "epoch,note\n1,a\n");

  // Zero rows: a run interrupted before its first evaluation, or one that never wrote its header.
  CHECK(CsvAppender::resume(path, {"epoch", "note"}, 0).rows() == 0);
  CHECK(read_bytes(path) == "epoch,note\n");
  write_bytes(path, "epo");
  CHECK(CsvAppender::resume(path, {"epoch", "note"}, 0).rows() == 0);
  CHECK(read_bytes(path) == "epoch,note\n");
  const fs::path missing = directory / "missing.csv";
  CHECK(CsvAppender::resume(missing, {"epoch"}, 0).rows() == 0);
  CHECK(read_bytes(missing) == "epoch\n");
}

TEST_CASE("CsvAppender::resume refuses a file that does not belong to the checkpoint", "[train][csv]") {
  TempDir directory("csv");
  const fs::path path = directory / "metrics.csv";
  write_bytes(path, "epoch,loss\n1,0.5\n2,0.25\n");
  const std::string other_columns = error_message([&] { CsvAppender::resume(path, {"epoch", "accuracy"}, 1); });
  CHECK_THAT(other_columns, Catch::Contains(path.string()));
  CHECK_THAT(other_columns, Catch::Contains("epoch,loss"));
  CHECK_THAT(other_columns, Catch::Contains("epoch,accuracy"));
  const std::string too_few = error_message([&] { CsvAppender::resume(path, {"epoch", "loss"}, 3); });
  CHECK_THAT(too_few, Catch::Contains("2 complete rows"));
  CHECK_THAT(too_few, Catch::Contains("after 3"));
  const std::string missing = error_message([&] { CsvAppender::resume(directory / "none.csv", {"epoch"}, 1); });
  CHECK_THAT(missing, Catch::Contains("none.csv"));
  CHECK_THAT(missing, Catch::Contains(std::strerror(ENOENT)));
  // Refusing left the file alone.
  CHECK(read_bytes(path) == "epoch,loss\n1,0.5\n2,0.25\n");
}

TEST_CASE("CsvAppender never leaves half a row when a write fails", "[train][csv]") {
  TempDir directory("csv");
  const fs::path path = directory / "metrics.csv";
  CsvAppender metrics = CsvAppender::create(path, {"epoch", "note"});
  metrics.append_row({1, "short"});
  const std::size_t size_before = read_bytes(path).size();
  std::string message;
  {
    FileSizeLimit limit(size_before + 10);
    message = error_message([&] { metrics.append_row({2, std::string(100, 'n')}); });
  }
  CHECK_THAT(message, Catch::Contains(path.string()));
  CHECK_THAT(message, Catch::Contains(std::strerror(EFBIG)));
  CHECK(read_bytes(path) == "epoch,note\n1,short\n");
  CHECK(metrics.rows() == 1);
  metrics.append_row({2, "fits"});
  CHECK(read_bytes(path) == "epoch,note\n1,short\n2,fits\n");
}

TEST_CASE("CsvAppender names the path and the OS error on a full disk", "[train][csv]") {
  if (!fs::exists("/dev/full")) {
    WARN("no /dev/full on this system");
    return;
  }
  const std::string message = error_message([] { CsvAppender::create("/dev/full", {"epoch"}); });
  CHECK_THROWS_AS(CsvAppender::create("/dev/full", {"epoch"}), tapegrad::WriteError);  // make room, then resume
  CHECK_THAT(message, Catch::Contains("/dev/full"));
  CHECK_THAT(message, Catch::Contains(std::strerror(ENOSPC)));
}
