/// The POSIX ustar format (IEEE Std 1003.1, "pax" interchange format's ustar header), as much of
/// it as a dataset folder needs: regular files under one folder name. `tar -x`, Python's
/// `tarfile` and every archive tool read it. Each file is a 512-byte header, its bytes, and zeros
/// to the next 512-byte boundary; two zero blocks end the archive.
public enum TarHeader {
    public static let blockSize = 512
    public static let endOfArchive = [UInt8](repeating: 0, count: 2 * blockSize)

    /// The header of a regular file `name` (at most 100 bytes of UTF-8) of `size` bytes.
    public static func file(name: String, size: Int, modificationTime: Int) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: blockSize)
        func put(_ text: String, at offset: Int, width: Int) {
            let bytes = Array(text.utf8.prefix(width))
            header.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        }
        func octal(_ value: Int, at offset: Int, width: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits, at: offset, width: width - 1)
        }
        precondition(name.utf8.count <= 100, "a ustar name holds at most 100 bytes")
        put(name, at: 0, width: 100)
        octal(0o644, at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(modificationTime, at: 136, width: 12)
        header[156] = UInt8(ascii: "0")
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        put("tally", at: 265, width: 32)
        put("tally", at: 297, width: 32)
        // The checksum is the sum of the header's bytes with its own field read as spaces.
        put("        ", at: 148, width: 8)
        let sum = header.reduce(0) { $0 + Int($1) }
        octal(sum, at: 148, width: 7)
        (header[154], header[155]) = (0, UInt8(ascii: " "))
        return header
    }

    /// The zeros after a file of `size` bytes up to the next block.
    public static func padding(after size: Int) -> [UInt8] {
        [UInt8](repeating: 0, count: (blockSize - size % blockSize) % blockSize)
    }
}
