// Archives (model, checkpoint, significance and limit files): the seal in HDF5's user
// block refuses any changed or missing byte before HDF5 parses the file, and the content
// checksum still guards files written without a seal.
#include <gtest/gtest.h>

#include <fstream>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "support/TestFiles.hpp"

using namespace bsmhunt;

namespace {
constexpr std::size_t kUserBlock = 512;

Archive small_archive() {
  Archive a;
  a.floats["layers/0/weight"] = {{2, 3}, {1, 2, 3, 4, 5, 6}};
  a.doubles["mean"] = {0.5, -1.25};
  a.strings["layers/0/activation"] = "relu";
  a.string_lists["features"] = {"mll", "met"};
  return a;
}

// "accepted" with the archive read, or the InputError's message.
std::string outcome_of(const std::filesystem::path& p, Archive* read = nullptr) {
  try {
    Archive a = io::read_archive(p, "bsmhunt.test");
    if (read) *read = std::move(a);
  } catch (const InputError& e) {
    return e.what();
  }
  return "accepted";
}

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
}
}  // namespace

TEST(ArchiveFile, SealedInTheUserBlockAndReadBackByBsmhuntAndH5py) {
  if (!dist::Communicator::world().is_root()) return;  // not collective: one rank checks
  test::TempDir dir("archive-seal");
  io::write_archive(dir / "a.h5", small_archive(), "bsmhunt.test", 1);
  const std::string bytes = test::read_file(dir / "a.h5");
  ASSERT_GT(bytes.size(), kUserBlock);
  EXPECT_EQ(bytes.rfind("bsmhunt sealed file v1\nfnv1a64 ", 0), 0u);
  EXPECT_TRUE(test::contains(bytes.substr(0, 100), "\nbytes " + std::to_string(bytes.size() - kUserBlock) + "\n"));
  EXPECT_EQ(bytes.substr(kUserBlock, 4), "\x89HDF");  // HDF5's superblock follows the user block
  EXPECT_TRUE(io::is_hdf5_file(dir / "a.h5"));
  EXPECT_EQ(io::hdf5_format_attribute(dir / "a.h5"), "bsmhunt.test");
  Archive back;
  ASSERT_EQ(outcome_of(dir / "a.h5", &back), "accepted");
  EXPECT_EQ(back.floats.at("layers/0/weight").values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(back.string_lists.at("features"), (std::vector<std::string>{"mll", "met"}));
  EXPECT_EQ(back.checksum(), small_archive().checksum());
  // h5py, what a physicist opens it with, finds the superblock after the user block.
  const auto r = test::run_command(test::python_script(dir.path(), "open", "f = h5py.File(sys.argv[1], 'r')\n"
                                                                           "print(f.attrs['format'], f.userblock_size,"
                                                                           " f['layers/0/weight'][1, 2])\n") +
                                   " " + (dir / "a.h5").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(test::contains(r.output, "bsmhunt.test 512 6.0")) << r.output;
}

// Every bit of every byte HDF5 would parse, flipped one at a time: refused before HDF5
// sees the file. A flip in the user block is refused (the recorded hash or length) or
// changes nothing (padding; or the seal's first line, so that the file reads as unsealed
// and HDF5 checks it, finding the same content).
TEST(ArchiveFile, EveryFlippedByteIsRefusedOrChangesNothing) {
  if (!dist::Communicator::world().is_root()) return;
  test::TempDir dir("archive-flips");
  io::write_archive(dir / "a.h5", small_archive(), "bsmhunt.test", 1);
  const std::string bytes = test::read_file(dir / "a.h5");
  std::size_t refused = 0, unchanged = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = char(damaged[i] ^ (1 << (i % 8)));
    write_bytes(dir / "d.h5", damaged);
    Archive back;
    const std::string outcome = outcome_of(dir / "d.h5", &back);
    if (outcome == "accepted") {
      ASSERT_LT(i, kUserBlock) << "a flip at byte " << i << " was accepted";
      ASSERT_EQ(back.checksum(), small_archive().checksum()) << "byte " << i;
      ++unchanged;
    } else {
      ASSERT_TRUE(test::contains(outcome, (dir / "d.h5").string() + ": damaged")) << "byte " << i << ": " << outcome;
      ++refused;
    }
  }
  EXPECT_GT(refused, bytes.size() - kUserBlock);
  EXPECT_GT(unchanged, 0u);
}

TEST(ArchiveFile, CutFileIsRefusedWithTheLengths) {
  if (!dist::Communicator::world().is_root()) return;
  test::TempDir dir("archive-cut");
  io::write_archive(dir / "a.h5", small_archive(), "bsmhunt.test", 1);
  const std::string bytes = test::read_file(dir / "a.h5");
  for (const std::size_t n : {std::size_t(100), kUserBlock, kUserBlock + 8, bytes.size() / 2, bytes.size() - 1}) {
    write_bytes(dir / "cut.h5", bytes.substr(0, n));
    const std::string outcome = outcome_of(dir / "cut.h5");
    EXPECT_TRUE(test::contains(outcome, "cut.h5: damaged")) << n << ": " << outcome;
  }
  write_bytes(dir / "cut.h5", bytes.substr(0, bytes.size() - 1));
  EXPECT_TRUE(test::contains(outcome_of(dir / "cut.h5"),
                             std::to_string(bytes.size() - kUserBlock - 1) + " bytes follow its seal, which records " +
                                 std::to_string(bytes.size() - kUserBlock)));
}

// A file without the seal (an older bsmhunt's: the user block cut off, as h5unjam does)
// is read, and a value changed in it is found by the content checksum.
TEST(ArchiveFile, FileWithoutASealIsCheckedByItsContentChecksum) {
  if (!dist::Communicator::world().is_root()) return;
  test::TempDir dir("archive-unsealed");
  io::write_archive(dir / "a.h5", small_archive(), "bsmhunt.test", 1);
  write_bytes(dir / "old.h5", test::read_file(dir / "a.h5").substr(kUserBlock));
  Archive back;
  ASSERT_EQ(outcome_of(dir / "old.h5", &back), "accepted");
  EXPECT_EQ(back.checksum(), small_archive().checksum());
  const auto r = test::run_command(
      test::python_script(dir.path(), "change", "with h5py.File(sys.argv[1], 'r+') as f:\n"
                                                "    f['layers/0/weight'][0, 0] = 7.0\n") +
      " " + (dir / "old.h5").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(test::contains(outcome_of(dir / "old.h5"), "old.h5: damaged: the content checksum is")) << outcome_of(dir / "old.h5");
  // The same change in a sealed file is refused by the seal, before HDF5 parses it.
  ASSERT_EQ(test::run_command(test::python_script(dir.path(), "change", "with h5py.File(sys.argv[1], 'r+') as f:\n"
                                                                        "    f['layers/0/weight'][0, 0] = 7.0\n") +
                              " " + (dir / "a.h5").string())
                .exit_code,
            0);
  EXPECT_TRUE(test::contains(outcome_of(dir / "a.h5"), "its seal records")) << outcome_of(dir / "a.h5");
}
