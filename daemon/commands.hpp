#pragma once
// Entry points of the medgw commands, one file each (command_*.cpp).
#include <daemon/cli.hpp>

namespace medgw::daemon {

int command_check_config(Invocation& invocation);

}  // namespace medgw::daemon
