// Block layouts of the quantized tensor types, bit-compatible with the GGUF/ggml formats
// (little-endian, no padding). Half-precision fields hold raw binary16 bits.
// Value formulas (what each element of a block means) are documented at the dequantizers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minillm::kernels {

inline constexpr size_t kQK = 32;           // elements per block of the "legacy" types
inline constexpr size_t kQK_K = 256;        // elements per K-quant super-block
inline constexpr size_t kKScaleBytes = 12;  // packed 6-bit scales+mins of Q4_K/Q5_K, scales of Q3_K

struct BlockQ4_0 {
  uint16_t d;           // fp16 scale
  uint8_t qs[kQK / 2];  // [16]: element j in low nibble of qs[j], element j+16 in high nibble
};

struct BlockQ4_1 {
  uint16_t d;           // fp16 scale
  uint16_t m;           // fp16 offset (minimum)
  uint8_t qs[kQK / 2];  // [16]: nibbles as in Q4_0
};

struct BlockQ5_0 {
  uint16_t d;           // fp16 scale
  uint8_t qh[4];        // [4] = 32 bits, little-endian: bit j is the 5th bit of element j
  uint8_t qs[kQK / 2];  // [16]: low 4 bits, nibbles as in Q4_0
};

struct BlockQ5_1 {
  uint16_t d;           // fp16 scale
  uint16_t m;           // fp16 offset (minimum)
  uint8_t qh[4];        // [4]: 5th bits as in Q5_0
  uint8_t qs[kQK / 2];  // [16]: low 4 bits as in Q4_0
};

struct BlockQ8_0 {
  uint16_t d;      // fp16 scale
  int8_t qs[kQK];  // [32] signed quants
};

struct BlockQ8_1 {
  uint16_t d;      // fp16 scale
  uint16_t s;      // fp16 d * sum(qs), precomputed for dot products with offset types
  int8_t qs[kQK];  // [32] signed quants
};

struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // [16] per 16-element sub-block: low nibble scale, high nibble min
  uint8_t qs[kQK_K / 4];       // [64] 2-bit quants, 4 per byte (see dequantizer for order)
  uint16_t d;                  // fp16 super-block scale of the scales
  uint16_t dmin;               // fp16 super-block scale of the mins
};

struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];      // [32] high (3rd) bit of each quant, bit plane per 32-group
  uint8_t qs[kQK_K / 4];         // [64] low 2 bits, 4 per byte
  uint8_t scales[kKScaleBytes];  // [12] sixteen 6-bit scales, packed
  uint16_t d;                    // fp16 super-block scale
};

struct BlockQ4_K {
  uint16_t d;                    // fp16 super-block scale of the scales
  uint16_t dmin;                 // fp16 super-block scale of the mins
  uint8_t scales[kKScaleBytes];  // [12] eight 6-bit scales and eight 6-bit mins, packed
  uint8_t qs[kQK_K / 2];         // [128] 4-bit quants: 32 bytes per 64 elements
};

struct BlockQ5_K {
  uint16_t d;                    // fp16 super-block scale of the scales
  uint16_t dmin;                 // fp16 super-block scale of the mins
  uint8_t scales[kKScaleBytes];  // [12] packed as in Q4_K
  uint8_t qh[kQK_K / 8];         // [32] 5th bits, two bit planes per 64 elements
  uint8_t qs[kQK_K / 2];         // [128] low 4 bits as in Q4_K
};

struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // [128] low 4 bits of the quants
  uint8_t qh[kQK_K / 4];      // [64] high 2 bits of the quants
  int8_t scales[kQK_K / 16];  // [16] signed 8-bit scale per 16-element sub-block
  uint16_t d;                 // fp16 super-block scale
};

// IQ4_NL and IQ4_XS: 4-bit indices into one fixed non-linear table of 16 signed levels.
inline constexpr int8_t kIQ4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};

struct BlockIQ4_NL {
  uint16_t d;           // fp16 scale
  uint8_t qs[kQK / 2];  // [16]: level indices, nibbles as in Q4_0
};

// Sub-block b (32 elements) is scaled by d * (ls_b - 32), ls_b a 6-bit number: its low 4 bits in
// nibble b % 2 of scales_l[b / 2], its high 2 bits at bits 2b..2b+1 of scales_h.
struct BlockIQ4_XS {
  uint16_t d;                    // fp16 super-block scale
  uint16_t scales_h;             // high 2 bits of the 8 sub-block scales
  uint8_t scales_l[kQK_K / 64];  // [4] low 4 bits of the 8 sub-block scales
  uint8_t qs[kQK_K / 2];         // [128] 16 bytes per 32-element sub-block, nibbles as in IQ4_NL
};

struct BlockQ8_K {
  float d;                    // float32 scale (not fp16)
  int8_t qs[kQK_K];           // [256] signed quants
  int16_t bsums[kQK_K / 16];  // [16] sum of qs over each 16-element group
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);
// The blocks are read straight out of (possibly unaligned) mapped files.
static_assert(alignof(BlockQ4_0) <= 2 && alignof(BlockQ6_K) <= 2 && alignof(BlockQ8_K) <= 4);
static_assert(alignof(BlockIQ4_NL) <= 2 && alignof(BlockIQ4_XS) <= 2);

}  // namespace minillm::kernels
