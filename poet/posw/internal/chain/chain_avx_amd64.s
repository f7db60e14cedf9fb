//go:build !purego

#include "textflag.h"

// hashBlocksAVX is hashBlocksSHANI for CPUs without SHA-NI: the rounds on general-purpose
// registers with BMI2 RORX (a rotate into another register), the message schedule four
// words at a time in XMM registers with AVX.
//
// General-purpose registers: the state a..h is in AX, BX, CX, DX, R8, R9, R10, R11 at
// round 0; each round renames them instead of moving them (the new a is the register that
// held h, the new e the one that held d), so after 8 rounds the names are back in place.
// SI and DI are temporaries. R12 and R14 take turns holding b^c for Maj: a round computes
// a^b, which is the next round's b^c. R13 points at the W+K words of the current 16
// rounds. BP and R15 are not used.
//
// XMM registers: X0..X3 hold the last 16 schedule words, four each, renamed like the
// state (the group computed next replaces the oldest); X4..X8 are temporaries; X9 is the
// byte-swap mask, X10 and X11 the padding words 8..15 of a chain step.
//
// The rounds run 16 per loop pass, short enough to run from the decoded-uop cache; 64
// unrolled rounds (about 2,000 uops) would not fit and would run from the legacy decoders.
// The loop starts on a 32-byte boundary, the unit of that cache.
//
// Frame: W+K for rounds 0..63, K0..63 (copied here so that one register addresses both),
// the state to add back after the rounds, p, the blocks left and the chain steps left.
#define FRAME_WK 0
#define FRAME_K 256
#define FRAME_H 512
#define FRAME_P 544
#define FRAME_NBLOCKS 552
#define FRAME_EXTRA 560

// SCHEDULE0..3 compute the schedule words W[t..t+3] (t relative to R13) into x0, from
// x0..x3 = W[t-16..t-1] (oldest first), and store W+K for them:
// W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], where
// σ0(x) = x>>7 ^ x<<25 ^ x>>18 ^ x<<14 ^ x>>3 and σ1(x) = ror17(x) ^ ror19(x) ^ x>>10,
// the rotations of σ1 done as 64-bit shifts of a word copied into both halves. σ1 of
// W[t] and W[t+1] need them first, so the four lanes are finished in two halves. It is
// split into four parts, SCHEDULE0..3, one before each of four rounds, so that the
// vector and scalar instructions come interleaved; X4..X8 carry over between parts.
#define SCHEDULE0(t, x0, x1, x2, x3) \
	VPALIGNR $4, x2, x3, X4; \
	VPADDD   x0, X4, X4; \
	VPALIGNR $4, x0, x1, X5; \
	VPSRLD   $3, X5, X6; \
	VPSRLD   $7, X5, X7; \
	VPSLLD   $14, X5, X8; \
	VPXOR    X7, X6, X6; \
	VPXOR    X8, X6, X6

#define SCHEDULE1(t, x0, x1, x2, x3) \
	VPSRLD   $11, X7, X7; \
	VPSLLD   $11, X8, X8; \
	VPXOR    X7, X6, X6; \
	VPXOR    X8, X6, X6; \
	VPADDD   X6, X4, X4; \
	SIGMA1HALF_BEGIN($0xfa, x3)

#define SCHEDULE2(t, x0, x1, x2, x3) \
	SIGMA1HALF_END($0x08, X8); \
	SIGMA1HALF_BEGIN($0x50, X8)

#define SCHEDULE3(t, x0, x1, x2, x3) \
	SIGMA1HALF_END($0x80, X6); \
	VPBLENDW $0xf0, X6, X8, x0; \
	VPADDD   (FRAME_K+t*4)(R13), x0, X4; \
	VMOVDQU  X4, (FRAME_WK+t*4)(R13)

// SIGMA1HALF_BEGIN and SIGMA1HALF_END are σ1 of two schedule words, split across two
// SCHEDULE parts. BEGIN copies the two words src's dwords sel selects into both halves
// of two qwords of X5 and starts the shifts (x>>10 in X6, x ror 19 in X7); END finishes
// σ1 in X6, moves the two results to the lanes sel selects and adds X4 into dst.
#define SIGMA1HALF_BEGIN(sel, src) \
	VPSHUFD  sel, src, X5; \
	VPSRLD   $10, X5, X6; \
	VPSRLQ   $19, X5, X7

#define SIGMA1HALF_END(sel, dst) \
	VPSRLQ   $17, X5, X5; \
	VPXOR    X7, X5, X5; \
	VPXOR    X5, X6, X6; \
	VPSHUFD  sel, X6, X6; \
	VPADDD   X6, X4, dst

// LOADIV sets the state a..h to SHA-256's initial value.
#define LOADIV \
	MOVL $0x6a09e667, AX; \
	MOVL $0xbb67ae85, BX; \
	MOVL $0x3c6ef372, CX; \
	MOVL $0xa54ff53a, DX; \
	MOVL $0x510e527f, R8; \
	MOVL $0x9b05688c, R9; \
	MOVL $0x1f83d9ab, R10; \
	MOVL $0x5be0cd19, R11

// ADDSIGMA adds Σ(x) = ror r1 ^ ror r2 ^ ror r3 of x to h (Σ1 with 6, 11, 25; Σ0 with
// 2, 13, 22), through SI and DI.
#define ADDSIGMA(r1, r2, r3, x, h) \
	RORXL r1, x, SI; \
	RORXL r2, x, DI; \
	XORL  DI, SI; \
	RORXL r3, x, DI; \
	XORL  DI, SI; \
	ADDL  SI, h

// ROUND runs round i (relative to R13): T1 = h + Σ1(e) + Ch(e,f,g) + K[i] + W[i],
// d += T1, h = T1 + Σ0(a) + Maj(a,b,c). The caller renames the registers for the next
// round. Ch(e,f,g) = ((f^g)&e)^g; Maj(a,b,c) = ((a^b)&(b^c))^b, with b^c in bc on entry
// and a^b left in ab for the next round.
#define ROUND(i, a, b, c, d, e, f, g, h, ab, bc) \
	ADDL  (FRAME_WK+i*4)(R13), h; \
	MOVL  f, SI; \
	XORL  g, SI; \
	ANDL  e, SI; \
	XORL  g, SI; \
	ADDL  SI, h; \
	ADDSIGMA($6, $11, $25, e, h); \
	ADDL  h, d; \
	ADDSIGMA($2, $13, $22, a, h); \
	MOVL  a, ab; \
	XORL  b, ab; \
	ANDL  ab, bc; \
	XORL  b, bc; \
	ADDL  bc, h

// func hashBlocksAVX(out *[32]byte, p *byte, nblocks int, extra int)
TEXT ·hashBlocksAVX(SB), 0, $568-32
	MOVQ    p+8(FP), SI
	MOVQ    SI, FRAME_P(SP)
	MOVQ    nblocks+16(FP), SI
	MOVQ    SI, FRAME_NBLOCKS(SP)
	MOVQ    extra+24(FP), SI
	MOVQ    SI, FRAME_EXTRA(SP)
	LEAQ    consts<>(SB), SI
	VMOVDQU 0(SI), X9
	VMOVDQU 16(SI), X10
	VMOVDQU 32(SI), X11
	LEAQ    ·k256(SB), SI
	VMOVDQU 0(SI), X4
	VMOVDQU X4, FRAME_K+0(SP)
	VMOVDQU 16(SI), X4
	VMOVDQU X4, FRAME_K+16(SP)
	VMOVDQU 32(SI), X4
	VMOVDQU X4, FRAME_K+32(SP)
	VMOVDQU 48(SI), X4
	VMOVDQU X4, FRAME_K+48(SP)
	VMOVDQU 64(SI), X4
	VMOVDQU X4, FRAME_K+64(SP)
	VMOVDQU 80(SI), X4
	VMOVDQU X4, FRAME_K+80(SP)
	VMOVDQU 96(SI), X4
	VMOVDQU X4, FRAME_K+96(SP)
	VMOVDQU 112(SI), X4
	VMOVDQU X4, FRAME_K+112(SP)
	VMOVDQU 128(SI), X4
	VMOVDQU X4, FRAME_K+128(SP)
	VMOVDQU 144(SI), X4
	VMOVDQU X4, FRAME_K+144(SP)
	VMOVDQU 160(SI), X4
	VMOVDQU X4, FRAME_K+160(SP)
	VMOVDQU 176(SI), X4
	VMOVDQU X4, FRAME_K+176(SP)
	VMOVDQU 192(SI), X4
	VMOVDQU X4, FRAME_K+192(SP)
	VMOVDQU 208(SI), X4
	VMOVDQU X4, FRAME_K+208(SP)
	VMOVDQU 224(SI), X4
	VMOVDQU X4, FRAME_K+224(SP)
	VMOVDQU 240(SI), X4
	VMOVDQU X4, FRAME_K+240(SP)
	LOADIV

	// Each pass compresses one block: the next of the message while nblocks > 0, then
	// the padded digest while extra > 0.
loop:
	CMPQ    FRAME_NBLOCKS(SP), $0
	JLE     chainStep
	DECQ    FRAME_NBLOCKS(SP)
	MOVQ    FRAME_P(SP), SI
	VMOVDQU 0(SI), X0
	VPSHUFB X9, X0, X0
	VMOVDQU 16(SI), X1
	VPSHUFB X9, X1, X1
	VMOVDQU 32(SI), X2
	VPSHUFB X9, X2, X2
	VMOVDQU 48(SI), X3
	VPSHUFB X9, X3, X3
	ADDQ    $64, SI
	MOVQ    SI, FRAME_P(SP)
	JMP     compress

chainStep:
	CMPQ FRAME_EXTRA(SP), $0
	JLE  output
	DECQ FRAME_EXTRA(SP)

	// The message is the digest a..h, 0x80 and the bit length 256; the state restarts
	// from the IV. (VPINSRD, not stores and a 16-byte load, which would wait for the
	// stores to reach the cache: store forwarding takes one store per load.)
	VMOVD   AX, X0
	VPINSRD $1, BX, X0, X0
	VPINSRD $2, CX, X0, X0
	VPINSRD $3, DX, X0, X0
	VMOVD   R8, X1
	VPINSRD $1, R9, X1, X1
	VPINSRD $2, R10, X1, X1
	VPINSRD $3, R11, X1, X1
	VMOVDQA X10, X2
	VMOVDQA X11, X3
	LOADIV

compress:
	MOVL AX, FRAME_H+0(SP)
	MOVL BX, FRAME_H+4(SP)
	MOVL CX, FRAME_H+8(SP)
	MOVL DX, FRAME_H+12(SP)
	MOVL R8, FRAME_H+16(SP)
	MOVL R9, FRAME_H+20(SP)
	MOVL R10, FRAME_H+24(SP)
	MOVL R11, FRAME_H+28(SP)
	VPADDD  FRAME_K+0(SP), X0, X4
	VMOVDQU X4, FRAME_WK+0(SP)
	VPADDD  FRAME_K+16(SP), X1, X4
	VMOVDQU X4, FRAME_WK+16(SP)
	VPADDD  FRAME_K+32(SP), X2, X4
	VMOVDQU X4, FRAME_WK+32(SP)
	VPADDD  FRAME_K+48(SP), X3, X4
	VMOVDQU X4, FRAME_WK+48(SP)
	MOVL BX, R12
	XORL CX, R12 // b^c for round 0
	MOVQ SP, R13

	// Rounds 0..47, 16 per pass, each group of 4 computing 4 words of the schedule.
	PCALIGN $32
scheduleLoop:
	SCHEDULE0(16, X0, X1, X2, X3)
	ROUND(0, AX, BX, CX, DX, R8, R9, R10, R11, R14, R12)
	SCHEDULE1(16, X0, X1, X2, X3)
	ROUND(1, R11, AX, BX, CX, DX, R8, R9, R10, R12, R14)
	SCHEDULE2(16, X0, X1, X2, X3)
	ROUND(2, R10, R11, AX, BX, CX, DX, R8, R9, R14, R12)
	SCHEDULE3(16, X0, X1, X2, X3)
	ROUND(3, R9, R10, R11, AX, BX, CX, DX, R8, R12, R14)
	SCHEDULE0(20, X1, X2, X3, X0)
	ROUND(4, R8, R9, R10, R11, AX, BX, CX, DX, R14, R12)
	SCHEDULE1(20, X1, X2, X3, X0)
	ROUND(5, DX, R8, R9, R10, R11, AX, BX, CX, R12, R14)
	SCHEDULE2(20, X1, X2, X3, X0)
	ROUND(6, CX, DX, R8, R9, R10, R11, AX, BX, R14, R12)
	SCHEDULE3(20, X1, X2, X3, X0)
	ROUND(7, BX, CX, DX, R8, R9, R10, R11, AX, R12, R14)
	SCHEDULE0(24, X2, X3, X0, X1)
	ROUND(8, AX, BX, CX, DX, R8, R9, R10, R11, R14, R12)
	SCHEDULE1(24, X2, X3, X0, X1)
	ROUND(9, R11, AX, BX, CX, DX, R8, R9, R10, R12, R14)
	SCHEDULE2(24, X2, X3, X0, X1)
	ROUND(10, R10, R11, AX, BX, CX, DX, R8, R9, R14, R12)
	SCHEDULE3(24, X2, X3, X0, X1)
	ROUND(11, R9, R10, R11, AX, BX, CX, DX, R8, R12, R14)
	SCHEDULE0(28, X3, X0, X1, X2)
	ROUND(12, R8, R9, R10, R11, AX, BX, CX, DX, R14, R12)
	SCHEDULE1(28, X3, X0, X1, X2)
	ROUND(13, DX, R8, R9, R10, R11, AX, BX, CX, R12, R14)
	SCHEDULE2(28, X3, X0, X1, X2)
	ROUND(14, CX, DX, R8, R9, R10, R11, AX, BX, R14, R12)
	SCHEDULE3(28, X3, X0, X1, X2)
	ROUND(15, BX, CX, DX, R8, R9, R10, R11, AX, R12, R14)
	ADDQ $64, R13
	LEAQ (FRAME_WK+48*4)(SP), SI
	CMPQ R13, SI
	JNE  scheduleLoop

	// Rounds 48..63.
	ROUND(0, AX, BX, CX, DX, R8, R9, R10, R11, R14, R12)
	ROUND(1, R11, AX, BX, CX, DX, R8, R9, R10, R12, R14)
	ROUND(2, R10, R11, AX, BX, CX, DX, R8, R9, R14, R12)
	ROUND(3, R9, R10, R11, AX, BX, CX, DX, R8, R12, R14)
	ROUND(4, R8, R9, R10, R11, AX, BX, CX, DX, R14, R12)
	ROUND(5, DX, R8, R9, R10, R11, AX, BX, CX, R12, R14)
	ROUND(6, CX, DX, R8, R9, R10, R11, AX, BX, R14, R12)
	ROUND(7, BX, CX, DX, R8, R9, R10, R11, AX, R12, R14)
	ROUND(8, AX, BX, CX, DX, R8, R9, R10, R11, R14, R12)
	ROUND(9, R11, AX, BX, CX, DX, R8, R9, R10, R12, R14)
	ROUND(10, R10, R11, AX, BX, CX, DX, R8, R9, R14, R12)
	ROUND(11, R9, R10, R11, AX, BX, CX, DX, R8, R12, R14)
	ROUND(12, R8, R9, R10, R11, AX, BX, CX, DX, R14, R12)
	ROUND(13, DX, R8, R9, R10, R11, AX, BX, CX, R12, R14)
	ROUND(14, CX, DX, R8, R9, R10, R11, AX, BX, R14, R12)
	ROUND(15, BX, CX, DX, R8, R9, R10, R11, AX, R12, R14)
	ADDL FRAME_H+0(SP), AX
	ADDL FRAME_H+4(SP), BX
	ADDL FRAME_H+8(SP), CX
	ADDL FRAME_H+12(SP), DX
	ADDL FRAME_H+16(SP), R8
	ADDL FRAME_H+20(SP), R9
	ADDL FRAME_H+24(SP), R10
	ADDL FRAME_H+28(SP), R11
	JMP loop

output:
	MOVQ out+0(FP), SI
	BSWAPL AX
	MOVL   AX, 0(SI)
	BSWAPL BX
	MOVL   BX, 4(SI)
	BSWAPL CX
	MOVL   CX, 8(SI)
	BSWAPL DX
	MOVL   DX, 12(SI)
	BSWAPL R8
	MOVL   R8, 16(SI)
	BSWAPL R9
	MOVL   R9, 20(SI)
	BSWAPL R10
	MOVL   R10, 24(SI)
	BSWAPL R11
	MOVL   R11, 28(SI)
	RET

// 0: byte swap within each dword
DATA consts<>+0(SB)/8, $0x0405060700010203
DATA consts<>+8(SB)/8, $0x0c0d0e0f08090a0b
// 16: chain step message words 8..11
DATA consts<>+16(SB)/8, $0x0000000080000000
DATA consts<>+24(SB)/8, $0x0000000000000000
// 32: chain step message words 12..15
DATA consts<>+32(SB)/8, $0x0000000000000000
DATA consts<>+40(SB)/8, $0x0000010000000000
GLOBL consts<>(SB), RODATA|NOPTR, $48

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL   $0, CX
	XGETBV
	MOVL   AX, eax+0(FP)
	MOVL   DX, edx+4(FP)
	RET
