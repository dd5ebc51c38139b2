/*
 * tests/guests/prot32-smp.S, ending instead with every vCPU in HLT with
 * interrupts on and nothing armed: a VM that can never wake again.
 */
#define IDLE_END
#include "prot32-smp.S"
