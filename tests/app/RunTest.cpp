// End-to-end tests of `bsmhunt run`: a small job file runs every stage, a second run
// skips them all, a changed section reruns that stage and the ones after it, and a
// run interrupted during training (SIGUSR1, as Slurm's --signal sends) continues
// when started again and ends with the same outputs as an uninterrupted run.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/TestFiles.hpp"

using namespace bsmhunt::test;
namespace fs = std::filesystem;

namespace {

std::string serial() { return std::string(BSMHUNT_BINARY); }
std::string without_timing(const fs::path& p) {
  std::istringstream in(read_file(p));
  std::string line, out;
  while (std::getline(in, line))
    if (!contains(line, "\"fill_seconds\"")) out += line + "\n";
  return out;
}

std::string job_text(int epochs) {
  return R"([job]
description = run test
stages = generate, extract, train, predict, significance

[generate]
channel = dilepton_met
events = 20000
signal-events = 1000
lumi-ifb = 1
pseudo-data = false
samples = dy_ee,dy_mumu,ttbar_dilep,ww_lvlv,zz_llvv,zp_DH_HDS_m130_ee,zp_DH_HDS_m130_mumu

[train]
model = mlp
signal-samples = zp_DH_HDS_m130_*
hidden = 32,32
batch-size = 128
checkpoint-every = 20
progress-seconds = 0.5
epochs = )" + std::to_string(epochs) + R"(

[significance]
channels = ee: channel_flag == 0; mumu: channel_flag == 1
cuts = met_significance > 10 && n_bjets == 0
)";
}

// Wall times in the training history are the only thing allowed to differ.
CommandResult h5compare(const fs::path& a, const fs::path& b) {
  return run_command(system_python() + " " + source_dir() + "/tools/h5compare " + a.string() + " " + b.string() +
                     " --ignore-dataset /history/seconds");
}

}  // namespace

TEST(Run, SecondRunSkipsEverythingAndAChangedSectionRerunsFromThere) {
  TempDir dir("run-skip");
  const fs::path job = dir / "job.ini", out = dir / "out";
  std::ofstream(job) << job_text(3);
  const std::string run = bsmhunt_command(2) + " run " + job.string() + " --output-dir " + out.string();
  auto a = run_command(run);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  for (const char* f : {"events.h5", "features.h5", "features.h5.cutflow.json", "mlp_model.h5", "mlp_scores.h5",
                        "mlp_significance.json", "mlp_significance.h5", "manifest.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const auto scores_time = fs::last_write_time(out / "mlp_scores.h5");
  auto b = run_command(run);
  ASSERT_EQ(b.exit_code, 0) << b.output;
  for (const char* stage : {"generate", "extract", "train", "predict", "significance"})
    EXPECT_TRUE(contains(b.output, std::string("stage ") + stage + ": complete with the same inputs")) << b.output;
  EXPECT_EQ(fs::last_write_time(out / "mlp_scores.h5"), scores_time);

  std::ofstream(job) << job_text(4);  // a changed [train]: train and what follows run again
  auto c = run_command(run);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_TRUE(contains(c.output, "stage extract: complete")) << c.output;
  EXPECT_TRUE(contains(c.output, "stage train: run (configuration changed)")) << c.output;
  EXPECT_TRUE(contains(c.output, "stage predict: run (input")) << c.output;

  // --from/--until select stages; --force reruns a complete one.
  auto d = run_command(run + " --from predict --until predict --force");
  ASSERT_EQ(d.exit_code, 0) << d.output;
  EXPECT_TRUE(contains(d.output, "stage predict: run")) << d.output;
  EXPECT_FALSE(contains(d.output, "stage train:")) << d.output;

  // A damaged output makes its stage run again instead of being trusted.
  fs::resize_file(out / "mlp_scores.h5", 100);
  auto e = run_command(run);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_TRUE(contains(e.output, "stage predict: run (output")) << e.output;
}

// A different build (here: the same executable with bytes appended, so its checksum
// differs) redoes a complete stage and stamps its outputs; --keep-stale keeps them.
TEST(Run, AnotherBuildRedoesCompleteStagesUnlessKeepStale) {
  TempDir dir("run-build");
  const fs::path job = dir / "job.ini", out = dir / "out", rebuilt = dir / "bsmhunt-rebuilt";
  std::ofstream(job) << "[job]\nstages = generate\n\n[generate]\nchannel = dilepton_met\nevents = 2000\n"
                        "signal-events = 100\nlumi-ifb = 1\npseudo-data = false\nsamples = dy_ee,zp_DH_HDS_m130_ee\n";
  fs::copy_file(serial(), rebuilt);
  std::ofstream(rebuilt, std::ios::app | std::ios::binary) << "another build";
  const auto version_of = [](const std::string& binary) {
    const auto v = run_command(binary + " --version");
    EXPECT_EQ(v.exit_code, 0) << v.output;
    return v.output.substr(v.output.find(' ') + 1, v.output.find('\n') - v.output.find(' ') - 1);
  };
  const std::string original_build = version_of(serial()), new_build = version_of(rebuilt.string());
  ASSERT_NE(original_build, new_build);
  ASSERT_EQ(original_build.rfind("0.", 0), 0u) << original_build;

  const std::string args = " run " + job.string() + " --output-dir " + out.string();
  auto a = run_command(serial() + args);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  auto b = run_command(rebuilt.string() + args);
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_TRUE(contains(b.output, "stage generate: run (made by build " + original_build + ", this is " + new_build +
                                     ")"))
      << b.output;
  const auto attribute = run_command(system_python() + " -c \"import h5py; print(h5py.File('" +
                                     (out / "events.h5").string() + "').attrs['bsmhunt_build'])\"");
  EXPECT_TRUE(contains(attribute.output, new_build)) << attribute.output;
  EXPECT_TRUE(contains(read_file(out / "manifest.json"), new_build));

  auto c = run_command(rebuilt.string() + args);  // same build again: complete
  EXPECT_TRUE(contains(c.output, "stage generate: complete with the same inputs")) << c.output;
  const auto events_time = fs::last_write_time(out / "events.h5");
  auto d = run_command(serial() + args + " --keep-stale");
  ASSERT_EQ(d.exit_code, 0) << d.output;
  EXPECT_TRUE(contains(d.output, "kept although made by build " + new_build + " (this is " + original_build + ")"))
      << d.output;
  EXPECT_EQ(fs::last_write_time(out / "events.h5"), events_time);
}

TEST(Run, InterruptedRunContinuesAndEndsWithTheSameResults) {
  TempDir dir("run-resume");
  // Both runs write to the same path (the files record their inputs' paths): the
  // uninterrupted one first, then moved aside.
  const fs::path job = dir / "job.ini", straight = dir / "straight", resumed = dir / "out";
  std::ofstream(job) << job_text(12);
  auto s = run_command(bsmhunt_command(2) + " run " + job.string() + " --output-dir " + resumed.string());
  ASSERT_EQ(s.exit_code, 0) << s.output;
  fs::rename(resumed, straight);

  const fs::path checkpoint = resumed / "mlp_model.h5.checkpoint.h5", log = dir / "interrupted.log";
  std::thread runner([&] {
    run_command(bsmhunt_command(2) + " run " + job.string() + " --output-dir " + resumed.string() + " > " +
                log.string() + " 2>&1; echo $? > " + log.string() + ".rc");
  });
  for (int i = 0; i < 1200 && !fs::exists(checkpoint); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(checkpoint)) << "no checkpoint appeared";
  // The rank processes only (their command line starts with the binary).
  run_command("pkill -USR1 -f '^" + serial() + " run .*" + resumed.string() + "'");
  runner.join();
  int rc = -1;
  std::ifstream(log.string() + ".rc") >> rc;
  const std::string interrupted = read_file(log);
  ASSERT_EQ(rc, 75) << interrupted;
  EXPECT_TRUE(contains(interrupted, "run the same command again")) << interrupted;
  EXPECT_FALSE(fs::exists(resumed / "mlp_model.h5"));

  auto r = run_command(bsmhunt_command(2) + " run " + job.string() + " --output-dir " + resumed.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "stage generate: complete")) << r.output;
  EXPECT_TRUE(contains(r.output, "continuing from the checkpoint")) << r.output;
  for (const char* f : {"events.h5", "features.h5", "mlp_model.h5", "mlp_scores.h5", "mlp_significance.h5"}) {
    auto cmp = h5compare(straight / f, resumed / f);
    EXPECT_EQ(cmp.exit_code, 0) << f << ": " << cmp.output;
  }
  EXPECT_EQ(without_timing(straight / "mlp_significance.json"), without_timing(resumed / "mlp_significance.json"));
}

TEST(Run, BadJobFilesAreRefusedWithFileSectionAndKey) {
  TempDir dir("run-bad");
  const fs::path job = dir / "job.ini";
  struct Case {
    std::string text, args, expect;
  };
  const std::vector<Case> cases = {
      {"[genrate]\nevents = 1\n", "", "unknown section [genrate] (did you mean 'generate'?)"},
      {"[generate]\nevent = 1\n", "", "unknown key 'event' in [generate] (did you mean 'events'?)"},
      {"[job]\nstages = generate, fitt\n[generate]\nevents = 1\n", "", "neither a section nor a stage"},
      {"[job]\nnam = x\n", "", "unknown key 'nam' in [job]"},
      {"[generate]\nevents = 1\n", " --from train", "--from 'train'"},
      {"[generate]\nevents = ten\n", "", "[generate]"},
  };
  for (const auto& c : cases) {
    std::ofstream(job) << c.text;
    auto r = run_command(bsmhunt_command(2) + " run " + job.string() + " --output-dir " + (dir / "o").string() + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.text << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, c.expect)) << c.text << "\nexpected: " << c.expect << "\n" << r.output;
  }
  auto m = run_command(serial() + " run " + (dir / "missing.ini").string());
  EXPECT_EQ(m.exit_code, 2);
  EXPECT_TRUE(contains(m.output, "cannot open the job file")) << m.output;
}
