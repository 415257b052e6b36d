#include "relay/relay_capacity.h"

#include <sys/resource.h>

#include <algorithm>

#include "log/log.h"

namespace crimirror::relay {

unsigned FitConnectionsToFileLimit(unsigned wanted) {
  constexpr rlim_t kReserve = 1024;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return wanted;
  const rlim_t needed = static_cast<rlim_t>(wanted) + kReserve;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : std::min(needed, limit.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed) return wanted;
  const rlim_t fits =
      limit.rlim_cur > 2 * kReserve ? limit.rlim_cur - kReserve : limit.rlim_cur / 2;
  log::Warning("relay: the open-file limit (", limit.rlim_cur, ") leaves room for ", fits,
               " relay connections instead of ", wanted, "; raise LimitNOFILE");
  return static_cast<unsigned>(std::clamp<rlim_t>(fits, 1, wanted));
}

}  // namespace crimirror::relay
