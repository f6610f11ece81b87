/* sabre/sabre.h - the whole public API. */
#ifndef SABRE_SABRE_H
#define SABRE_SABRE_H
#include "sabre/status.h"
#include "sabre/layout.h"
#include "sabre/region.h"
#endif
