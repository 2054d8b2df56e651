#ifndef TALLY_CLINUX_SHIM_H
#define TALLY_CLINUX_SHIM_H
// Linux system calls Swift's Glibc module does not expose: epoll and eventfd, for the HTTP
// server's event loops.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
