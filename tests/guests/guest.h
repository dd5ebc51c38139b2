/*
 * Shared definitions for the test guests (GNU as, preprocessed).
 *
 * Every test guest checks what it sees itself and counts failures; it ends
 * with that count as its status, so a boot test wants status=0 and the
 * exact exit counts each guest's header comment derives.
 */
#define COM1		0x3f8
#define DEBUG_EXIT	0xf4
#define HC_PRINT	0
#define HC_EXIT		1
#define HC_VERSION	2
#define HV_VERSION	1
#define MSR_FEATURE_CONTROL	0x3a
#define MSR_VMX_BASIC	0x480
#define MSR_PAT		0x277
#define MSR_EFER	0xc0000080
#define CR4_VMXE	(1 << 13)
#define CR4_OSXSAVE	(1 << 18)
