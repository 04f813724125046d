// bsmhunt images: rank 0 reads the first events of each sample and writes their
// images in every compression.
#include "bsmhunt/pipeline/Images.hpp"

#include <fmt/format.h>

#include "../ModelFile.hpp"
#include "bsmhunt/core/Archive.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/physics/EtaPhiImage.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"

namespace bsmhunt::pipeline {

void add_images_options(po::options_description& d) {
  const ImagesConfig c;
  d.add_options()
      ("events", po::value<std::string>()->default_value(""), "event file with particles (generate --channel monojet)")
      ("output,o", po::value<std::string>()->default_value(""), "images file to write (HDF5)")
      ("samples", po::value<std::string>()->default_value(""), "samples to draw from, glob patterns (default: all)")
      ("per-sample", po::value<uint64_t>()->default_value(c.per_sample), "events per sample (the first ones)")
      ("scales", po::value<std::string>()->default_value(c.scales),
       "channel scales of the compressed images: none (raw values) or a CNN model file (its training scales)")
      ("seed", po::value<uint64_t>()->default_value(c.seed), "seed of the stochastic compression")
      ("overwrite", switch_value(), "replace an existing output file");
}

ImagesConfig images_config_from(const po::variables_map& vm) {
  ImagesConfig c;
  c.events = required(vm, "events", "bsmhunt images: --events FILE is required");
  c.output = required(vm, "output", "bsmhunt images: --output FILE is required");
  c.samples = list_option(vm, "samples");
  c.per_sample = option<uint64_t>(vm, "per-sample");
  if (c.per_sample == 0) throw InputError("--per-sample must be >= 1");
  c.scales = option<std::string>(vm, "scales");
  c.seed = option<uint64_t>(vm, "seed");
  c.overwrite = option<bool>(vm, "overwrite");
  return c;
}

int run_images(const dist::Communicator& comm, const ImagesConfig& c) {
  io::check_output_path(comm, c.output, c.overwrite, "--output");
  io::EventFileReader reader(comm, c.events);
  std::array<double, 8> scales;
  scales.fill(1.0);
  if (c.scales != "none") dist::collectively(comm, [&] { scales = image_scales_of(c.scales); });
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    Archive a;
    a.doubles["scales"] = std::vector<double>(scales.begin(), scales.end());
    a.string_lists["channel_names"] = {physics::image_channel_names().begin(), physics::image_channel_names().end()};
    using G = physics::ImageGrid;
    a.doubles["grid"] = {G::eta_min, G::phi_min, G::cell, double(G::rows), double(G::cols)};
    a.strings["grid_description"] = "eta_min, phi_min, cell size, rows (eta), columns (phi)";
    physics::EtaPhiImage image;
    physics::EventBlock block;
    std::size_t written = 0;
    for (std::size_t s = 0; s < reader.samples().size(); ++s) {
      const auto& info = reader.samples()[s].info;
      bool wanted = c.samples.empty();
      for (const auto& p : c.samples) wanted = wanted || glob_match(p, info.name);
      if (!wanted) continue;
      if (!reader.samples()[s].schema.find_collection("particles"))
        throw InputError(fmt::format("{}: sample '{}' has no 'particles' collection: images need an event file of the "
                                     "monojet channel",
                                     c.events, info.name));
      const uint64_t n = std::min<uint64_t>(c.per_sample, info.n_events);
      if (n == 0) continue;
      reader.read(s, 0, n, block, {"event_number", "particles", "jets"});
      const uint64_t stream = physics::sample_stream(info);
      const std::string base = "samples/" + info.name + "/";
      std::vector<double> events;
      ArchiveArray raw{{n, G::rows, G::cols, G::channels}, std::vector<float>(n * G::rows * G::cols * G::channels)};
      std::vector<ArchiveArray> compressed(4, ArchiveArray{{n, G::out_rows, G::out_cols, G::out_channels},
                                                           std::vector<float>(n * G::out_size)});
      for (std::size_t i = 0; i < n; ++i) {
        const uint64_t event = block.values<uint64_t>("event_number")[i];
        events.push_back(double(event));
        image.fill(block, i);
        image.raw(raw.values.data() + i * G::rows * G::cols * G::channels);
        for (int m = 0; m < 4; ++m)
          image.compress(physics::Compression(m), scales, physics::image_random_key(c.seed, stream, event),
                         compressed[std::size_t(m)].values.data() + i * G::out_size);
      }
      a.doubles[base + "event_number"] = events;
      a.floats[base + "raw"] = std::move(raw);
      for (int m = 0; m < 4; ++m)
        a.floats[base + std::string(physics::to_string(physics::Compression(m)))] = std::move(compressed[std::size_t(m)]);
      written += n;
    }
    if (written == 0) throw InputError(fmt::format("{}: no event of the selected samples", c.events));
    io::write_archive(c.output, a, "bsmhunt.images", 1);
    log::info("wrote {}: images of {} events", c.output, written);
  });
  return 0;
}

}  // namespace bsmhunt::pipeline
