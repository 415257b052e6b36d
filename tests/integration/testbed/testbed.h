// Copyright cri-mirror authors.
//
// Umbrella header of the integration test bed (library crimirror_testbed,
// namespace crimirror::testbed): include this in a test to get every piece.
// See tests/integration/README.md for an overview.
#pragma once

#include "tests/integration/testbed/containerd.h"         // IWYU pragma: export
#include "tests/integration/testbed/containerd_images.h"  // IWYU pragma: export
#include "tests/integration/testbed/cri_client.h"         // IWYU pragma: export
#include "tests/integration/testbed/cri_mirror.h"         // IWYU pragma: export
#include "tests/integration/testbed/cri_runtime_client.h"  // IWYU pragma: export
#include "tests/integration/testbed/fault_proxy.h"        // IWYU pragma: export
#include "tests/integration/testbed/http.h"               // IWYU pragma: export
#include "tests/integration/testbed/image_builder.h"      // IWYU pragma: export
#include "tests/integration/testbed/leftovers.h"          // IWYU pragma: export
#include "tests/integration/testbed/prerequisites.h"      // IWYU pragma: export
#include "tests/integration/testbed/process.h"            // IWYU pragma: export
#include "tests/integration/testbed/registry.h"           // IWYU pragma: export
#include "tests/integration/testbed/registry_with_image.h"  // IWYU pragma: export
#include "tests/integration/testbed/tar_layer.h"          // IWYU pragma: export
#include "tests/integration/testbed/temp_dir.h"           // IWYU pragma: export
#include "tests/integration/testbed/test_ca.h"            // IWYU pragma: export
#include "tests/integration/testbed/token_server.h"       // IWYU pragma: export
#include "tests/integration/testbed/wait.h"               // IWYU pragma: export
