// Thin bridge to hiredis: only the RESP encoder (redisFormatCommandArgv) and the reply reader
// (redisReader*) are used. All network I/O is SwiftNIO's; hiredis never touches a socket here.
#ifndef SLUICE_CHIREDIS_SHIM_H
#define SLUICE_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
