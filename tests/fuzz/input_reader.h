/* A fuzz input read front to back, a byte at a time; zeros past its end,
 * so that every input, however short, decodes to whole operations. Shared
 * by the fuzz targets that decode operations from their input. */
#pragma once

#include <cstddef>
#include <cstdint>

namespace latestframe_fuzz
{

class input_reader
{
public:
  input_reader (const std::uint8_t *data, std::size_t size)
      : data_ (data), size_ (size)
  {
  }
  bool done () const { return position_ >= size_; }
  std::uint8_t byte () { return position_ < size_ ? data_[position_++] : 0; }

private:
  const std::uint8_t *data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

} // namespace latestframe_fuzz
