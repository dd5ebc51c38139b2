/*
 * tests/guests/prot32-smp.S with AP 1 sending INIT to the boot vCPU and
 * then halting with interrupts off: every vCPU is then waiting for SIPI
 * or parked, and none can wake another.
 */
#define BSP_INIT
#include "prot32-smp.S"
