// Copyright cri-mirror authors.
//
// What a containerd that ran pods leaves behind when it stops: its
// containerd-shim-runc-v2 processes (started in their own process group, so
// Process::Stop of containerd does not reach them, and reparented away from
// it) with the container processes under them, and the mounts of sandboxes
// and container root file systems below its directory. The bed finds them
// by the shim's "-address <containerd socket>" argument and by mount point
// path, so it never touches another containerd's pods. Read from /proc.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace crimirror::testbed {

// Pids of the live shims whose command line has `-address
// <containerd_socket>`, i.e. that the containerd serving that socket
// started.
std::vector<pid_t> ShimPids(const std::string& containerd_socket);

// Kills (with KillProcessTree) the shims of bed containerds that died with
// their test (SIGKILL, a ctest timeout: no destructor ran): shims whose
// -address is a /tmp/.../containerd/containerd.sock that no longer accepts
// connections, and unmounts what is still mounted below that containerd's
// directory. Returns how many processes it signalled.
int KillOrphanShims();

// Pids of `pid`'s live descendants (children, their children...), read
// from /proc/*/stat at the time of the call.
std::vector<pid_t> Descendants(pid_t pid);

// True while `pid` exists and is not a zombie.
bool ProcessAlive(pid_t pid);

// SIGKILLs `pid` and its descendants and waits up to 5 s until none is
// alive. Returns how many processes it signalled.
int KillProcessTree(pid_t pid);

// Lazily unmounts (MNT_DETACH) every mount point at or below `dir`,
// deepest first, as /proc/self/mountinfo lists them. Returns how many.
int UnmountBelow(const std::string& dir);

}  // namespace crimirror::testbed
