/*
 * tests/guests/prot32-smp.S with the boot vCPU and AP 1 sending each
 * other INIT at the same moment: both end up waiting for SIPI, where the
 * preemption timer causes no exit, and only the time limit can end the
 * VM.
 */
#define MUTUAL_INIT
#include "prot32-smp.S"
