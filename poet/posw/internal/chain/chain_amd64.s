//go:build !purego

#include "textflag.h"

// The state lives in X1 = ABEF and X2 = CDGH (A in the top dword of X1), the layout
// SHA256RNDS2 works on. Register use in hashBlocksSHANI:
//	X0	W+K, the implicit operand of SHA256RNDS2
//	X1, X2	state
//	X3-X6	message schedule, four words each, W0 in the low dword
//	X7	scratch
//	X8, X9	IV as ABEF; IV as CDGH (chain loop: with round 0..1 input folded in)
//	X10-X12	block loop: saved state, byte-swap mask
//	X10-X15	chain loop: constants, see below

// ROUNDS4 runs four rounds on the message words in m with the round constants at k.
#define ROUNDS4(m, k) \
	MOVO        m, X0; \
	PADDL       k, X0; \
	SHA256RNDS2 X0, X1, X2; \
	PSHUFD      $0x0e, X0, X0; \
	SHA256RNDS2 X0, X2, X1

// SCHEDULE computes the next four message words into m4 from the previous sixteen in
// m4, m3, m2, m1 (oldest first).
#define SCHEDULE(m4, m3, m2, m1) \
	SHA256MSG1 m3, m4; \
	MOVO       m1, X7; \
	PALIGNR    $4, m2, X7; \
	PADDL      X7, m4; \
	SHA256MSG2 m1, m4

// ROUNDS16TO63 runs rounds 16..63, given W0..15 in X3..X6 and k256 at AX.
#define ROUNDS16TO63 \
	SCHEDULE(X3, X4, X5, X6); ROUNDS4(X3, 64(AX)); \
	SCHEDULE(X4, X5, X6, X3); ROUNDS4(X4, 80(AX)); \
	SCHEDULE(X5, X6, X3, X4); ROUNDS4(X5, 96(AX)); \
	SCHEDULE(X6, X3, X4, X5); ROUNDS4(X6, 112(AX)); \
	SCHEDULE(X3, X4, X5, X6); ROUNDS4(X3, 128(AX)); \
	SCHEDULE(X4, X5, X6, X3); ROUNDS4(X4, 144(AX)); \
	SCHEDULE(X5, X6, X3, X4); ROUNDS4(X5, 160(AX)); \
	SCHEDULE(X6, X3, X4, X5); ROUNDS4(X6, 176(AX)); \
	SCHEDULE(X3, X4, X5, X6); ROUNDS4(X3, 192(AX)); \
	SCHEDULE(X4, X5, X6, X3); ROUNDS4(X4, 208(AX)); \
	SCHEDULE(X5, X6, X3, X4); ROUNDS4(X5, 224(AX)); \
	SCHEDULE(X6, X3, X4, X5); ROUNDS4(X6, 240(AX))

// func hashBlocksSHANI(out *[32]byte, p *byte, nblocks int, extra int)
TEXT ·hashBlocksSHANI(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ nblocks+16(FP), DX
	MOVQ extra+24(FP), CX
	LEAQ ·k256(SB), AX
	LEAQ consts<>(SB), BX

	MOVO  0(BX), X8
	MOVO  16(BX), X9
	MOVO  160(BX), X12
	MOVO  X8, X1
	MOVO  X9, X2
	TESTQ DX, DX
	JLE   blocksDone

blockLoop:
	MOVO   X1, X10
	MOVO   X2, X11
	MOVOU  0(SI), X3
	PSHUFB X12, X3
	MOVOU  16(SI), X4
	PSHUFB X12, X4
	MOVOU  32(SI), X5
	PSHUFB X12, X5
	MOVOU  48(SI), X6
	PSHUFB X12, X6
	ROUNDS4(X3, 0(AX))
	ROUNDS4(X4, 16(AX))
	ROUNDS4(X5, 32(AX))
	ROUNDS4(X6, 48(AX))
	ROUNDS16TO63
	PADDL  X10, X1
	PADDL  X11, X2
	ADDQ   $64, SI
	DECQ   DX
	JNZ    blockLoop

blocksDone:
	TESTQ CX, CX
	JLE   output

	// Each step of the chain hashes the previous digest a..h, padded, from the IV. The
	// loop keeps the state without the IV added back (a'..h', a = a'+IV a); the constants
	// below fold the IV into the message instead. Rounds 0 and 1 take a' and b' bare:
	// W+K is a'+(IV a+K0) and b'+(IV b+K1), and both constants are folded into the
	// initial CDGH (X9). In round 0, h enters only the sum T1, so adding IV a+K0 to h
	// adds it to T1. In round 1, T1 has the previous g as its h; g also enters round 0
	// through Ch(e, f, g), so g gets IV b+K1 and h is corrected for the change in Ch. This
	// leaves one shuffle between the last round of a step and the first of the next.
	PSUBL X8, X1
	PSUBL X9, X2
	MOVO  176(BX), X9  // IV as CDGH with rounds 0..1 folded in
	MOVO  32(BX), X10  // IV a..d
	MOVO  48(BX), X11  // IV e..h
	MOVO  64(BX), X12  // -, -, IV e..f + K4..5
	MOVO  80(BX), X13  // IV c..d + K2..3, IV g..h + K6..7
	MOVO  96(BX), X14  // W8..11 + K8..11
	MOVO  112(BX), X15 // W12..15 + K12..15

chainLoop:
	PSHUFD $0x1b, X1, X0 // a', b', e', f'
	MOVAPS X1, X3
	MOVAPS X2, X6
	MOVO   X8, X1
	MOVO   X9, X2
	SHA256RNDS2 X0, X1, X2
	PSHUFD $0x1b, X6, X7 // c', d', g', h'
	PADDL  X13, X7
	PADDL  X12, X0
	PSHUFD $0x0e, X0, X5
	MOVO   X7, X0
	SHA256RNDS2 X0, X2, X1
	MOVAPS X3, X4
	SHUFPS $0xbb, X6, X3 // a'..d'
	PADDL  X10, X3       // W0..3
	SHUFPS $0x11, X6, X4 // e'..h'
	PADDL  X11, X4       // W4..7
	MOVO   X5, X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD $0x0e, X7, X0
	SHA256RNDS2 X0, X2, X1
	MOVO   X14, X0
	MOVO   128(BX), X5 // W8..11
	MOVO   144(BX), X6 // W12..15
	SHA256RNDS2 X0, X1, X2
	PSHUFD $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	MOVO   X15, X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	ROUNDS16TO63
	DECQ   CX
	JNZ    chainLoop

	PADDL X8, X1
	PADDL 16(BX), X2

output:
	MOVO   160(BX), X12
	MOVAPS X1, X0
	SHUFPS $0xbb, X2, X0 // a..d
	PSHUFB X12, X0
	MOVOU  X0, 0(DI)
	MOVAPS X1, X7
	SHUFPS $0x11, X2, X7 // e..h
	PSHUFB X12, X7
	MOVOU  X7, 16(DI)
	RET

// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// K0..63, package-wide: chain_avx_amd64.s reads it too.
DATA ·k256+0(SB)/8, $0x71374491428a2f98
DATA ·k256+8(SB)/8, $0xe9b5dba5b5c0fbcf
DATA ·k256+16(SB)/8, $0x59f111f13956c25b
DATA ·k256+24(SB)/8, $0xab1c5ed5923f82a4
DATA ·k256+32(SB)/8, $0x12835b01d807aa98
DATA ·k256+40(SB)/8, $0x550c7dc3243185be
DATA ·k256+48(SB)/8, $0x80deb1fe72be5d74
DATA ·k256+56(SB)/8, $0xc19bf1749bdc06a7
DATA ·k256+64(SB)/8, $0xefbe4786e49b69c1
DATA ·k256+72(SB)/8, $0x240ca1cc0fc19dc6
DATA ·k256+80(SB)/8, $0x4a7484aa2de92c6f
DATA ·k256+88(SB)/8, $0x76f988da5cb0a9dc
DATA ·k256+96(SB)/8, $0xa831c66d983e5152
DATA ·k256+104(SB)/8, $0xbf597fc7b00327c8
DATA ·k256+112(SB)/8, $0xd5a79147c6e00bf3
DATA ·k256+120(SB)/8, $0x1429296706ca6351
DATA ·k256+128(SB)/8, $0x2e1b213827b70a85
DATA ·k256+136(SB)/8, $0x53380d134d2c6dfc
DATA ·k256+144(SB)/8, $0x766a0abb650a7354
DATA ·k256+152(SB)/8, $0x92722c8581c2c92e
DATA ·k256+160(SB)/8, $0xa81a664ba2bfe8a1
DATA ·k256+168(SB)/8, $0xc76c51a3c24b8b70
DATA ·k256+176(SB)/8, $0xd6990624d192e819
DATA ·k256+184(SB)/8, $0x106aa070f40e3585
DATA ·k256+192(SB)/8, $0x1e376c0819a4c116
DATA ·k256+200(SB)/8, $0x34b0bcb52748774c
DATA ·k256+208(SB)/8, $0x4ed8aa4a391c0cb3
DATA ·k256+216(SB)/8, $0x682e6ff35b9cca4f
DATA ·k256+224(SB)/8, $0x78a5636f748f82ee
DATA ·k256+232(SB)/8, $0x8cc7020884c87814
DATA ·k256+240(SB)/8, $0xa4506ceb90befffa
DATA ·k256+248(SB)/8, $0xc67178f2bef9a3f7
GLOBL ·k256(SB), RODATA|NOPTR, $256

// 0: IV as ABEF
DATA consts<>+0(SB)/8, $0x510e527f9b05688c
DATA consts<>+8(SB)/8, $0x6a09e667bb67ae85
// 16: IV as CDGH
DATA consts<>+16(SB)/8, $0x1f83d9ab5be0cd19
DATA consts<>+24(SB)/8, $0x3c6ef372a54ff53a
// 32: IV a..d
DATA consts<>+32(SB)/8, $0xbb67ae856a09e667
DATA consts<>+40(SB)/8, $0xa54ff53a3c6ef372
// 48: IV e..h
DATA consts<>+48(SB)/8, $0x9b05688c510e527f
DATA consts<>+56(SB)/8, $0x5be0cd191f83d9ab
// 64: -, -, IV e..f + K4..5
DATA consts<>+64(SB)/8, $0x0000000000000000
DATA consts<>+72(SB)/8, $0xf4f67a7d8a6514da
// 80: IV c..d + K2..3, IV g..h + K6..7
DATA consts<>+80(SB)/8, $0x8f05d0dff22fef41
DATA consts<>+88(SB)/8, $0x06fd2beeb1c35c4f
// 96: W8..11 + K8..11
DATA consts<>+96(SB)/8, $0x12835b015807aa98
DATA consts<>+104(SB)/8, $0x550c7dc3243185be
// 112: W12..15 + K12..15
DATA consts<>+112(SB)/8, $0x80deb1fe72be5d74
DATA consts<>+120(SB)/8, $0xc19bf2749bdc06a7
// 128: W8..11
DATA consts<>+128(SB)/8, $0x0000000080000000
DATA consts<>+136(SB)/8, $0x0000000000000000
// 144: W12..15
DATA consts<>+144(SB)/8, $0x0000000000000000
DATA consts<>+152(SB)/8, $0x0000010000000000
// 160: byte swap within each dword
DATA consts<>+160(SB)/8, $0x0405060700010203
DATA consts<>+168(SB)/8, $0x0c0d0e0f08090a0b
// 176: IV as CDGH with IV a..b + K0..1 folded into g and h (see chainLoop)
DATA consts<>+176(SB)/8, $0x4c22ccc10ad5e018
DATA consts<>+184(SB)/8, $0x3c6ef372a54ff53a
GLOBL consts<>(SB), RODATA|NOPTR, $192
