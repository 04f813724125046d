// The subcommands of bsmhunt: each is an options file (add_X_options, X_config_from)
// and a driver run_X(comm, config) (docs/architecture.md, "A new command").
#include "bsmhunt/pipeline/Anomaly.hpp"
#include "bsmhunt/pipeline/Bumphunt.hpp"
#include "bsmhunt/pipeline/Convert.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/pipeline/DataMc.hpp"
#include "bsmhunt/pipeline/Efficiencies.hpp"
#include "bsmhunt/pipeline/Export.hpp"
#include "bsmhunt/pipeline/Extract.hpp"
#include "bsmhunt/pipeline/Fit.hpp"
#include "bsmhunt/pipeline/Generate.hpp"
#include "bsmhunt/pipeline/Images.hpp"
#include "bsmhunt/pipeline/Import.hpp"
#include "bsmhunt/pipeline/Inspect.hpp"
#include "bsmhunt/pipeline/Limits.hpp"
#include "bsmhunt/pipeline/Predict.hpp"
#include "bsmhunt/pipeline/Report.hpp"
#include "bsmhunt/pipeline/Run.hpp"
#include "bsmhunt/pipeline/Significance.hpp"
#include "bsmhunt/pipeline/Train.hpp"

namespace bsmhunt::pipeline {

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      make_command("generate", "generate weighted Monte Carlo samples and pseudo-data with the built-in generator",
                   "[mpirun -n N] bsmhunt generate --channel NAME --events N --output FILE [options]", "",
                   add_generate_options, generate_config_from, run_generate),
      make_command("inspect", "validate an event file and print its samples, weights and expected yields",
                   "[mpirun -n N] bsmhunt inspect FILE", "input", add_inspect_options, inspect_config_from,
                   run_inspect),
      make_command("import", "import a flat table (pandas to_hdf, h5py columns, CSV, flat ROOT trees) into a feature file",
                   "[mpirun -n N] bsmhunt import --input TABLE --output FEATURES.h5 [--format pandas|h5py|csv] "
                   "[options]",
                   "input", add_import_options, import_config_from, run_import),
      make_command("convert", "convert object-level ROOT trees (NanoAOD-like, ATLAS-ntuple-like) into an event file",
                   "[mpirun -n N] bsmhunt convert --samples SAMPLES.ini --mapping nanoaod|atlas|MAP.ini "
                   "--output EVENTS.h5",
                   "", add_convert_options, convert_config_from, run_convert),
      make_command("extract", "compute a feature set (dilepton_met, dijet, monojet, rmm, ...) with its selection from an event file",
                   "[mpirun -n N] bsmhunt extract --input EVENTS.h5 --output FEATURES.h5 [--features SET] [options]",
                   "input", add_extract_options, extract_config_from, run_extract),
      make_command("datamc",
                   "data vs weighted MC in every feature: chi2/ndf, p-value, KS distance, and the features that disagree",
                   "[mpirun -n N] bsmhunt datamc FEATURES.h5 --output DATAMC.json [--only PATTERNS] [options]", "features",
                   add_datamc_options, datamc_config_from, run_datamc),
      make_command("images", "eta-phi images of a few events (raw and every compression) for a look at them",
                   "bsmhunt images --events EVENTS.h5 --output IMAGES.h5 [--samples PATTERNS] [--per-sample N]", "",
                   add_images_options, images_config_from, run_images),
      make_command("train", "train an mlp, autoencoder or BDT on a feature file, data-parallel over the ranks",
                   "[mpirun -n N] bsmhunt train --features FEATURES.h5 --model mlp|autoencoder|bdt --output MODEL.h5 "
                   "[options]",
                   "", add_train_options, train_job_from, run_train),
      make_command("predict", "score every event of a feature file with a trained model",
                   "[mpirun -n N] bsmhunt predict --model MODEL.h5 --features FEATURES.h5 --output SCORES.h5", "",
                   add_predict_options, predict_config_from, run_predict),
      make_command("fit", "fit the sidebands of a binned spectrum with the dijet functions; local and global significance",
                   "[mpirun -n N] bsmhunt fit --input SPECTRUM.csv --signal-region LO,HI --output FIT.json [--toys N] "
                   "[options]",
                   "input", add_fit_options, fit_config_from, run_fit),
      make_command("significance", "score histograms per sample and channel; cut scans, ROC, cut-and-count yields and Z",
                   "[mpirun -n N] bsmhunt significance --scores SCORES.h5 [--features F] --output RESULT.json [options]",
                   "", add_significance_options, significance_config_from, run_significance),
      make_command("limits",
                   "CLs upper limits, best-fit signal strength, discovery Z, pulls and impacts for every signal model",
                   "[mpirun -n N] bsmhunt limits --histograms SIG.h5 | --workspace WS.json --output LIMITS.json "
                   "[--export-workspace DIR] [options]",
                   "", add_limits_options, limits_config_from, run_limits),
      make_command("efficiencies",
                   "classification of process groups at thresholds on a score, per slice and after a selection; S/sqrt(B) gain",
                   "[mpirun -n N] bsmhunt efficiencies --scores S.h5 --features F.h5 --groups 'A: a_*; B: b_*' "
                   "--signal-group A --reference-background B --output R.json [options]",
                   "", add_efficiencies_options, efficiencies_config_from, run_efficiencies),
      make_command("anomaly",
                   "cuts on an anomaly score at fixed SM efficiencies: signal efficiencies, ROC, data excess and its Z",
                   "[mpirun -n N] bsmhunt anomaly SCORES.h5 --output RESULT.json [options]", "scores",
                   add_anomaly_options, anomaly_config_from, run_anomaly),
      make_command("bumphunt",
                   "CWoLa bump hunt: SR-vs-sideband classifiers with k-fold cross-training, sideband fits per efficiency",
                   "[mpirun -n N] bsmhunt bumphunt --features F --mass-bins EDGES --output RESULT.json [options]", "",
                   add_bumphunt_options, bumphunt_config_from, run_bumphunt),
      make_command("export", "a model as ONNX (normalisation folded in) or a score file as a ROOT friend tree",
                   "bsmhunt export --model MODEL.h5 --output MODEL.onnx | --scores SCORES.h5 --output FRIEND.root",
                   "", add_export_options, export_config_from, run_export),
      make_command("report", "plots and an HTML page from a job's outputs (tools/plot/report.py, matplotlib)",
                   "bsmhunt report --output-dir DIR [--features F] [--scores LABEL=S.h5 ...] [--significance R.json ...]",
                   "", add_report_options, report_config_from, run_report),
      make_command("run", "run a job file's stages in order; complete stages are skipped, interrupted ones continue",
                   "[mpirun -n N] bsmhunt run JOB.ini [--from STAGE] [--until STAGE] [--force]", "job", add_run_options,
                   run_config_from, run_job),
  };
  return list;
}

}  // namespace bsmhunt::pipeline
