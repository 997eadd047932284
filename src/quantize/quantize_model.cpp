#include "quantize/quantize_model.h"

#include "kernels/quant/quant.h"
#include "minillm/error.h"
#include "minillm/gguf.h"
#include "quantize/tensor_quantizer.h"

namespace minillm {

void quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                    const QuantTarget& target, int n_threads, const TensorProgress& progress) {
  const GGUFFile src = GGUFFile::open_model(in);
  const std::string arch = src.get_or<std::string>("general.architecture", "");
  const uint32_t n_layer =
      arch.empty() || !src.has(arch + ".block_count")
          ? 0
          : uint32_t(src.at(arch + ".block_count").as_uint(arch + ".block_count"));
  const uint32_t n_expert =
      arch.empty() || !src.has(arch + ".expert_count")
          ? 0
          : uint32_t(src.at(arch + ".expert_count").as_uint(arch + ".expert_count"));
  // Reject before writing anything.
  for (const GGUFTensorInfo& t : src.tensors())
    if (t.type != TensorType::F32 && t.type != TensorType::F16 && t.type != TensorType::BF16)
      throw Error(ErrorKind::Unsupported, in.string() + ": tensor '" + t.name + "' is " +
                                              std::string(type_name(t.type)) +
                                              "; quantize from an F32, F16 or BF16 model");

  GGUFWriter w(uint32_t(src.alignment()));
  for (const auto& [key, value] : src.metadata())
    if (key != "general.file_type" && key != "general.alignment") w.set(key, value);
  w.set("general.file_type", target.gguf_file_type);

  // Each tensor is quantized when the writer reaches it, so memory holds one at a time.
  const auto& tensors = src.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const GGUFTensorInfo& t = tensors[i];
    const TensorType type =
        tensor_type_for(target, t.name, uint32_t(t.shape.size()), t.shape[0], n_layer, n_expert);
    auto make = [&, i, type]() {
      const GGUFTensorInfo& t = tensors[i];
      const uint64_t row_length = t.shape[0];
      const uint64_t n_rows = t.n_elements / row_length;
      const uint64_t src_row_bytes = row_bytes(t.type, row_length);
      auto fill = [&](uint64_t row, float* dst) {
        kernels::dequantize_row(t.type, t.data.data() + row * src_row_bytes, dst, row_length);
      };
      QuantizedTensor q = quantize_rows(type, n_rows, row_length, fill, n_threads);
      if (progress) progress(t.name, type, q.rmse, i, tensors.size());
      return std::move(q.bytes);
    };
    w.add_tensor_later(t.name, type, t.shape, make);
  }
  w.write(out);
}

}  // namespace minillm
