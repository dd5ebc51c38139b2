/*
 * tests/guests/prot32-smp.S with AP 1 triple-faulting as soon as it runs,
 * while the boot vCPU spins waiting for it.
 */
#define AP_FAULT
#include "prot32-smp.S"
