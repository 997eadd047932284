// tokenizer.model: SentencePiece's ModelProto, read straight from the protobuf wire format
// (varints and length-delimited fields) with every length checked against the bytes left.
//
// Fields used (sentencepiece_model.proto):
//   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
//   SentencePiece   1 piece (string), 2 score (float), 3 type (enum, NORMAL = 1 ... BYTE = 6)
//   TrainerSpec     3 model_type (UNIGRAM = 1, BPE = 2, WORD = 3, CHAR = 4), 35 byte_fallback,
//                   40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id (int32; -1 = none)
//   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix (default true),
//                   4 remove_extra_whitespaces (default true), 5 escape_whitespaces (default true)
#include <bit>
#include <cstring>
#include <string>

#include "minillm/error.h"
#include "tokenizer/hf_vocab.h"

namespace minillm {
namespace {

enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

// One field of a message; `bytes` for length-delimited fields, `value` for the others.
struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t value = 0;
  std::span<const uint8_t> bytes;
};

class WireReader {
 public:
  WireReader(std::span<const uint8_t> data, std::string what)
      : data_(data), what_(std::move(what)) {}

  bool next(Field& f) {
    if (pos_ == data_.size()) return false;
    const uint64_t key = varint();
    f.number = uint32_t(key >> 3);
    f.wire = uint32_t(key & 7);
    if (f.number == 0 || key >> 32 != 0) fail("invalid field key");
    switch (f.wire) {
      case kVarint:
        f.value = varint();
        break;
      case kFixed64:
        f.value = fixed(8);
        break;
      case kFixed32:
        f.value = fixed(4);
        break;
      case kBytes: {
        const uint64_t n = varint();
        if (n > data_.size() - pos_)
          fail("field " + std::to_string(f.number) + " claims " + std::to_string(n) +
               " bytes but " + std::to_string(data_.size() - pos_) + " are left");
        f.bytes = data_.subspan(pos_, n);
        pos_ += n;
        break;
      }
      default:
        fail("field " + std::to_string(f.number) + " has unsupported wire type " +
             std::to_string(f.wire));
    }
    return true;
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorKind::BadFile, what_ + ": " + why + " at byte " + std::to_string(pos_));
  }

 private:
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == data_.size()) fail("truncated varint");
      const uint8_t b = data_[pos_++];
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }
  uint64_t fixed(size_t n) {
    if (data_.size() - pos_ < n) fail("truncated fixed-width field");
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t(data_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  std::string what_;
};

std::string as_string(const Field& f) {
  return std::string(reinterpret_cast<const char*>(f.bytes.data()), f.bytes.size());
}

// int32 fields hold negative values as 64-bit two's complement varints.
int32_t as_int32(const Field& f) {
  return int32_t(uint32_t(f.value));
}

void expect_wire(WireReader& r, const Field& f, uint32_t wire) {
  if (f.wire != wire)
    r.fail("field " + std::to_string(f.number) + " has wire type " + std::to_string(f.wire) +
           ", expected " + std::to_string(wire));
}

void read_piece(std::span<const uint8_t> bytes, size_t index, const std::string& src, Vocab& v) {
  WireReader r(bytes, src + ": piece " + std::to_string(index));
  std::string text;
  float score = 0.0f;
  uint64_t type = 1;  // NORMAL
  for (Field f; r.next(f);) {
    if (f.number == 1) {
      expect_wire(r, f, kBytes);
      text = as_string(f);
    } else if (f.number == 2) {
      expect_wire(r, f, kFixed32);
      score = std::bit_cast<float>(uint32_t(f.value));
    } else if (f.number == 3) {
      expect_wire(r, f, kVarint);
      type = f.value;
    }
  }
  if (type < 1 || type > 6)
    r.fail("type " + std::to_string(type) + " is not a SentencePiece piece type (1..6)");
  v.tokens.push_back(std::move(text));
  v.scores.push_back(score);
  v.types.push_back(static_cast<TokenType>(type));
}

void read_trainer_spec(std::span<const uint8_t> bytes, const std::string& src, Vocab& v) {
  WireReader r(bytes, src + ": trainer_spec");
  uint64_t model_type = 1;  // UNIGRAM is the proto default
  for (Field f; r.next(f);) {
    if (f.wire != kVarint) continue;
    switch (f.number) {
      case 3:
        model_type = f.value;
        break;
      case 40:
        v.unk_id = as_int32(f);
        break;
      case 41:
        v.bos_id = as_int32(f);
        break;
      case 42:
        v.eos_id = as_int32(f);
        break;
      case 43:
        v.pad_id = as_int32(f);
        break;
      default:
        break;
    }
  }
  if (model_type != 2)
    throw Error(ErrorKind::Unsupported,
                src + ": SentencePiece model type " +
                    std::string(model_type == 1   ? "UNIGRAM"
                                : model_type == 3 ? "WORD"
                                : model_type == 4 ? "CHAR"
                                                  : std::to_string(model_type)) +
                    " is not supported yet (only BPE)");
}

void read_normalizer_spec(std::span<const uint8_t> bytes, const std::string& src, Vocab& v) {
  WireReader r(bytes, src + ": normalizer_spec");
  bool remove_extra_whitespaces = true, escape_whitespaces = true;
  std::string name;
  size_t charsmap_bytes = 0;
  for (Field f; r.next(f);) {
    if (f.number == 1 && f.wire == kBytes) name = as_string(f);
    if (f.number == 2 && f.wire == kBytes) charsmap_bytes = f.bytes.size();
    if (f.wire != kVarint) continue;
    if (f.number == 3) v.add_space_prefix = f.value != 0;
    if (f.number == 4) remove_extra_whitespaces = f.value != 0;
    if (f.number == 5) escape_whitespaces = f.value != 0;
  }
  // mini-llm's SentencePiece encoder applies no normalization rules besides the space symbol.
  if (charsmap_bytes > 0)
    throw Error(ErrorKind::Unsupported,
                src + ": normalization rules ('" + name + "') are not supported yet");
  if (remove_extra_whitespaces)
    throw Error(ErrorKind::Unsupported, src + ": remove_extra_whitespaces is not supported yet");
  if (!escape_whitespaces)
    throw Error(ErrorKind::Unsupported, src + ": escape_whitespaces = false is not supported yet");
}

}  // namespace

Vocab vocab_from_sentencepiece(std::span<const uint8_t> bytes, const std::string& src) {
  Vocab v;
  v.model = "llama";
  // TrainerSpec's defaults, for fields (or a whole spec) the file leaves out.
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  v.pad_id = -1;
  WireReader r(bytes, src);
  for (Field f; r.next(f);) {
    if (f.number == 1) {
      expect_wire(r, f, kBytes);
      read_piece(f.bytes, v.tokens.size(), src, v);
    } else if (f.number == 2) {
      expect_wire(r, f, kBytes);
      read_trainer_spec(f.bytes, src, v);
    } else if (f.number == 3) {
      expect_wire(r, f, kBytes);
      read_normalizer_spec(f.bytes, src, v);
    }
  }
  if (v.tokens.empty())
    throw Error(ErrorKind::BadFile, src + ": no pieces (not a SentencePiece model?)");
  for (int32_t* id : {&v.unk_id, &v.bos_id, &v.eos_id, &v.pad_id})
    if (*id < 0) *id = -1;
  v.add_bos = v.bos_id >= 0;
  v.add_eos = false;
  return v;
}

}  // namespace minillm
