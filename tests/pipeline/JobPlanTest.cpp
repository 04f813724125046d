// The run planner: job files to the command lines of their stages, and the files
// each stage reads and writes (what `bsmhunt run` keys its manifests on).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/pipeline/Run.hpp"
#include "support/TestFiles.hpp"

using namespace bsmhunt;
using namespace bsmhunt::pipeline;

namespace {

std::string write_job(const test::TempDir& dir, const std::string& text) {
  const auto path = dir / "job.ini";
  std::ofstream(path) << text;
  return path.string();
}

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

TEST(JobPlan, StagesAreConnectedThroughTheOutputDirectory) {
  test::TempDir dir("plan");
  const Job job = read_job(write_job(dir, R"([job]
description = a test job
output-dir = out/x
stages = generate, extract, train:mlp, train:bdt, predict:mlp, significance:mlp, report

[generate]
channel = dilepton_met
events = 1000

[extract]
[train:mlp]
model = mlp
[train:bdt]
model = bdt
[predict:mlp]
[significance:mlp]
cuts = met > 100
[report]
)"));
  ASSERT_EQ(job.stages.size(), 7u);
  EXPECT_EQ(job.output_dir, "out/x");
  EXPECT_EQ(job.stages[2].kind, "train");
  EXPECT_EQ(job.stages[2].tag, "mlp");
  const auto plan = plan_job(job, "D", "warn");
  ASSERT_EQ(plan.size(), 7u);
  // generate -> D/events.h5 -> extract -> D/features.h5
  EXPECT_EQ(plan[0].outputs, std::vector<std::string>{"D/events.h5"});
  EXPECT_TRUE(has(plan[0].args, "--events=1000"));
  EXPECT_TRUE(has(plan[0].args, "--output=D/events.h5"));
  EXPECT_TRUE(has(plan[0].args, "--summary=false"));
  EXPECT_TRUE(has(plan[0].args, "--log-level=warn"));
  EXPECT_TRUE(has(plan[0].args, "--overwrite=true"));
  EXPECT_EQ(plan[1].inputs, std::vector<std::string>{"D/events.h5"});
  EXPECT_EQ(plan[1].outputs, std::vector<std::string>{"D/features.h5"});
  EXPECT_EQ(plan[1].optional_outputs, std::vector<std::string>{"D/features.h5.cutflow.json"});
  // Each tagged training writes LABEL_model.h5 with its checkpoint beside it.
  EXPECT_EQ(plan[2].label, "mlp");
  EXPECT_EQ(plan[2].outputs, std::vector<std::string>{"D/mlp_model.h5"});
  EXPECT_EQ(plan[2].checkpoint, "D/mlp_model.h5.checkpoint.h5");
  EXPECT_EQ(plan[3].outputs, std::vector<std::string>{"D/bdt_model.h5"});
  EXPECT_EQ(plan[4].inputs, (std::vector<std::string>{"D/mlp_model.h5", "D/features.h5"}));
  EXPECT_EQ(plan[4].outputs, std::vector<std::string>{"D/mlp_scores.h5"});
  EXPECT_EQ(plan[5].outputs, (std::vector<std::string>{"D/mlp_significance.json", "D/mlp_significance.h5"}));
  EXPECT_TRUE(has(plan[5].args, "--cuts=met > 100"));
  // The report reads every output of the stages before it.
  EXPECT_EQ(plan[6].outputs, std::vector<std::string>{"D/report/index.html"});
  EXPECT_TRUE(has(plan[6].args, "--title=a test job"));
  EXPECT_TRUE(has(plan[6].args, "--events=D/events.h5"));
  EXPECT_TRUE(has(plan[6].args, "--scores=mlp=D/mlp_scores.h5"));
  EXPECT_TRUE(has(plan[6].args, "--history=mlp=D/mlp_model.h5.history.csv"));
  EXPECT_TRUE(has(plan[6].args, "--history=bdt=D/bdt_model.h5"));  // boosting: rounds from the model
  EXPECT_TRUE(has(plan[6].args, "--significance=D/mlp_significance.json"));
  EXPECT_TRUE(has(plan[6].args, "--cutflow=D/features.h5.cutflow.json"));
  EXPECT_TRUE(has(plan[6].inputs, "D/mlp_scores.h5"));
}

TEST(JobPlan, OptionsOfTheSectionWinOverTheConnectingPaths) {
  test::TempDir dir("plan-own");
  const Job job = read_job(write_job(dir, R"([generate]
output = elsewhere/events.h5
[extract]
output = elsewhere/features.h5
)"));
  const auto plan = plan_job(job, "D", "info");
  EXPECT_EQ(plan[0].outputs, std::vector<std::string>{"elsewhere/events.h5"});
  EXPECT_EQ(plan[1].inputs, std::vector<std::string>{"elsewhere/events.h5"});
  EXPECT_EQ(plan[1].outputs, std::vector<std::string>{"elsewhere/features.h5"});
  EXPECT_EQ(std::count_if(plan[1].args.begin(), plan[1].args.end(),
                          [](const std::string& a) { return a.rfind("--output=", 0) == 0; }),
            1);
  // Without [job] output-dir, the outputs go to output/<job file name>.
  EXPECT_EQ(job.output_dir, "output/job");
}

TEST(JobPlan, BadJobFilesNameTheSectionAndKey) {
  test::TempDir dir("plan-bad");
  const auto message = [&](const std::string& text) {
    try {
      read_job(write_job(dir, text));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("[generate]\nevnets = 5\n").find("unknown key 'evnets' in [generate]"), std::string::npos);
  EXPECT_NE(message("[generate]\nevnets = 5\n").find("events"), std::string::npos);  // the suggestion
  EXPECT_NE(message("[genrate]\nevents = 5\n").find("unknown section [genrate]"), std::string::npos);
  EXPECT_NE(message("[job]\nstages = generate, trian\n[generate]\n").find("'trian'"), std::string::npos);
  EXPECT_NE(message("[job]\nname = x\n").find("no stage to run"), std::string::npos);
  EXPECT_NE(message("[job]\ncolour = red\n[generate]\n").find("unknown key 'colour' in [job]"), std::string::npos);
}

TEST(JobPlan, StagesListedWithoutASectionRunWithDefaults) {
  test::TempDir dir("plan-default");
  const Job job = read_job(write_job(dir, "[job]\nstages = generate, extract\n[generate]\nevents = 10\n"));
  ASSERT_EQ(job.stages.size(), 2u);
  EXPECT_EQ(job.stages[1].kind, "extract");
  EXPECT_TRUE(job.stages[1].options.empty());
}

TEST(JobPlan, StagesReferToEarlierOutputsByName) {
  test::TempDir dir("plan-refs");
  const Job job = read_job(write_job(dir, R"([job]
stages = generate, extract:rmm, extract:flat, datamc, train:ae_rmm, predict:ae_rmm, anomaly:ae_rmm, report
[generate]
channel = trilepton
[extract:rmm]
features = rmm
[extract:flat]
features = trilepton
[datamc]
features = {extract:flat}
[train:ae_rmm]
model = autoencoder
features = {extract:rmm}
[predict:ae_rmm]
features = {extract:rmm}
[anomaly:ae_rmm]
)"));
  const auto plan = plan_job(job, "D", "warn");
  ASSERT_EQ(plan.size(), 8u);
  EXPECT_EQ(plan[1].outputs, std::vector<std::string>{"D/rmm_features.h5"});
  EXPECT_EQ(plan[2].outputs, std::vector<std::string>{"D/flat_features.h5"});
  EXPECT_TRUE(has(plan[3].args, "--features=D/flat_features.h5"));
  EXPECT_TRUE(has(plan[3].inputs, "D/flat_features.h5"));
  EXPECT_EQ(plan[3].outputs, (std::vector<std::string>{"D/datamc.json", "D/datamc.json.csv"}));
  EXPECT_TRUE(has(plan[4].args, "--features=D/rmm_features.h5"));
  EXPECT_TRUE(has(plan[4].inputs, "D/rmm_features.h5"));
  EXPECT_TRUE(has(plan[5].inputs, "D/ae_rmm_model.h5"));
  EXPECT_TRUE(has(plan[5].args, "--features=D/rmm_features.h5"));
  EXPECT_TRUE(has(plan[6].inputs, "D/ae_rmm_scores.h5"));
  EXPECT_EQ(plan[6].outputs, std::vector<std::string>{"D/ae_rmm_anomaly.json"});
  EXPECT_TRUE(has(plan[7].args, "--datamc=D/datamc.json"));
  EXPECT_TRUE(has(plan[7].args, "--anomaly=ae_rmm=D/ae_rmm_anomaly.json"));
  // A scan is complete with its table; it adds no history to the report.
  const Job scan = read_job(write_job(dir, "[job]\nstages = train:ae\n[train:ae]\nmodel = autoencoder\nscan = random\n"));
  const auto scan_plan = plan_job(scan, "D", "warn");
  EXPECT_EQ(scan_plan[0].outputs, std::vector<std::string>{"D/ae_model.h5.scan.csv"});
  // A reference to a stage that is not before it names the stage and the job file.
  const Job bad = read_job(write_job(dir, "[job]\nstages = generate, train\n[generate]\n[train]\nfeatures = {extract:rmm}\n"));
  try {
    plan_job(bad, "D", "warn");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("{extract:rmm}"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[train]"), std::string::npos) << e.what();
  }
}
