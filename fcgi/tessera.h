/*
 * tessera.h -- every header of the host at once, for the tests and tools
 * that reach across layers. The host's own files include the layer
 * headers they use: lib.h, json.h, store.h, http.h, domain.h, lhost.h,
 * process.h (docs/ARCHITECTURE.md draws them).
 */
#ifndef TESSERA_H
#define TESSERA_H

#include "domain/domain.h"
#include "http/http.h"
#include "lib/json.h"
#include "bridge/lhost.h"
#include "lib/lib.h"
#include "lib/metrics.h"
#include "process/process.h"
#include "store/store.h"

#endif /* TESSERA_H */
