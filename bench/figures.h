// Copyright cri-mirror authors.
//
// The figures of issue 5, one function each (one .cc each). Every function
// measures cri-mirror and its reference side by side on the shared Bed,
// repeats BenchOptions::repetitions times (once with --smoke), and returns
// the rows it owns. None of them fails the run: a measurement that cannot
// be taken becomes a kNotApplicable row with the reason.
#pragma once

#include <vector>

#include "bench/bed.h"
#include "bench/bench.h"

namespace crimirror::bench {

// "cri": ImageStatus and ListImages latency (p50/p99) and throughput at 1
// and 64 concurrent clients, direct to containerd vs through a pass-through
// cri-mirror, over ~100 image names.
std::vector<Row> RunCriOverhead(Bed& bed);

// "pull": time of a CRI pull of the big image (--image-mib) direct from the
// registry vs through a cri-mirror [[mirror]] rule and its relay.
std::vector<Row> RunPullThroughput(Bed& bed);

// "failover": first and later pulls when the first mirror endpoint is a
// black hole or refuses, vs a healthy endpoint alone.
std::vector<Row> RunFailover(Bed& bed);

// "hosts-toml": the black-hole setup done with containerd's own hosts.toml
// (second containerd), capped.
std::vector<Row> RunContainerdFallback(Bed& bed);

// "parallel": 8 different images pulled at once, direct vs through; and
// cri-mirror's CPU seconds per relayed GiB.
std::vector<Row> RunParallelPulls(Bed& bed);

// "mid-blob": first pull when the first mirror resets or stalls halfway
// through a layer (FaultProxy), vs the healthy bound and vs containerd's
// hosts.toml with the same endpoints (second containerd), capped.
std::vector<Row> RunMidBlobFailover(Bed& bed);

// "memory": cri-mirror's anonymous memory idle and under a 64-client load
// plus 8 parallel pulls of the big image; peak RSS as information.
std::vector<Row> RunMemory(Bed& bed);

// "load" (when `load`): 100k CRI calls from 64 clients while 8 images are
// pulled, none may fail. "soak" (when `soak`): rounds of the same for
// --soak-minutes, RSS flat after the first.
std::vector<Row> RunLoadAndSoak(Bed& bed, bool load, bool soak);

// "podman": the black-hole and mid-blob-reset mirror rows with podman's
// registries.conf (containers/image, CRI-O's library), capped, beside
// cri-mirror's default config (N/A without podman).
std::vector<Row> RunPodman(Bed& bed);

// "instructions": callgrind's instruction counts of cri-mirror for one
// proxied ImageStatus and per relayed MiB (N/A without valgrind).
std::vector<Row> RunInstructions(Bed& bed);

// "startup": exec of cri-mirror to its socket answering ListImages.
std::vector<Row> RunStartup(Bed& bed);

}  // namespace crimirror::bench
