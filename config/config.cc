#include "config/config.h"

namespace crimirror::config {

const HostSettings* Config::FindHost(std::string_view host_port) const {
  auto it = hosts.find(host_port);
  return it == hosts.end() ? nullptr : &it->second;
}

}  // namespace crimirror::config
