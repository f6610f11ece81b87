/* sabre/sabre.h - the whole public API, one header per layer. */
#ifndef SABRE_SABRE_H
#define SABRE_SABRE_H
#include "sabre/abi.h"      /* the ABI described by the library */
#include "sabre/ecs.h"      /* world, components, queries, ticks */
#include "sabre/layout.h"   /* scalars, schema language, layouts */
#include "sabre/mailbox.h"  /* multi-tick request/acknowledge */
#include "sabre/pool.h"     /* worker threads and processes */
#include "sabre/region.h"   /* shared regions and their objects */
#include "sabre/ring.h"     /* rollout rings: lanes and MPSC */
#include "sabre/sched.h"    /* systems, plans, offload */
#include "sabre/snapshot.h" /* snapshots, commit, native views */
#include "sabre/status.h"   /* status codes, error details */
#include "sabre/weights.h"  /* weights publication with reader pins */
#endif
