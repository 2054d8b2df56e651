/// Decodes a chunked request body (RFC 9112 section 7.1) from bytes that may arrive a few at a
/// time. Chunk extensions are ignored; trailer fields are read and dropped.
struct ChunkedBodyDecoder {
    private enum State {
        case size
        case data(remaining: Int)
        case dataEnd
        case trailers(bytesSeen: Int)
        case done
    }

    /// The longest chunk-size line accepted, extensions included.
    private static let maxSizeLineBytes = 4096
    private var state = State.size
    private let maxBodyBytes: Int
    private let maxTrailerBytes: Int
    private(set) var body: [UInt8] = []

    init(maxBodyBytes: Int, maxTrailerBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
        self.maxTrailerBytes = maxTrailerBytes
    }

    var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Consumes what it can of `input`; returns how many bytes it took. The body is complete
    /// when `isComplete` turns true; bytes after it belong to the next request.
    mutating func decode(_ input: UnsafeBufferPointer<UInt8>) throws(RequestParsingError) -> Int {
        var index = 0
        while index < input.count {
            switch state {
            case .size:
                guard let lineEnd = UnsafeBufferPointer(rebasing: input[index...]).firstIndex(of: .lineFeed).map({ $0 + index }) else {
                    if input.count - index > Self.maxSizeLineBytes { throw .badRequest("A chunk-size line is too long.") }
                    return index
                }
                let size = try parseSize(UnsafeBufferPointer(rebasing: input[index..<lineEnd]))
                index = lineEnd + 1
                if size == 0 {
                    state = .trailers(bytesSeen: 0)
                } else {
                    guard size <= maxBodyBytes - body.count else {
                        throw RequestParsingError(.contentTooLarge, "The chunked body is larger than \(maxBodyBytes) bytes.")
                    }
                    state = .data(remaining: size)
                }
            case .data(let remaining):
                let taken = min(remaining, input.count - index)
                body.append(contentsOf: UnsafeBufferPointer(rebasing: input[index..<(index + taken)]))
                index += taken
                state = remaining == taken ? .dataEnd : .data(remaining: remaining - taken)
            case .dataEnd:
                if input[index] == .lineFeed {
                    index += 1
                } else if input[index] == .carriageReturn {
                    guard index + 1 < input.count else { return index }
                    guard input[index + 1] == .lineFeed else { throw .badRequest("A chunk's data is not followed by CRLF.") }
                    index += 2
                } else {
                    throw .badRequest("A chunk holds more data than its size says.")
                }
                state = .size
            case .trailers(let bytesSeen):
                guard let lineEnd = UnsafeBufferPointer(rebasing: input[index...]).firstIndex(of: .lineFeed).map({ $0 + index }) else {
                    if bytesSeen + input.count - index > maxTrailerBytes {
                        throw RequestParsingError(.requestHeaderFieldsTooLarge, "The chunked body's trailer fields are too large.")
                    }
                    return index
                }
                let lineLength = lineEnd - index
                let isEmptyLine = lineLength == 0 || (lineLength == 1 && input[index] == .carriageReturn)
                index = lineEnd + 1
                if isEmptyLine {
                    state = .done
                    return index
                }
                guard bytesSeen + lineLength + 1 <= maxTrailerBytes else {
                    throw RequestParsingError(.requestHeaderFieldsTooLarge, "The chunked body's trailer fields are too large.")
                }
                state = .trailers(bytesSeen: bytesSeen + lineLength + 1)
            case .done:
                return index
            }
        }
        return index
    }

    /// chunk-size [ chunk-ext ]: hexadecimal digits, optionally followed by `;` extensions.
    private func parseSize(_ line: UnsafeBufferPointer<UInt8>) throws(RequestParsingError) -> Int {
        var end = line.count
        if end > 0, line[end - 1] == .carriageReturn { end -= 1 }
        var digitsEnd = 0
        while digitsEnd < end, PercentEncoding.hexValue(line[digitsEnd]) != nil { digitsEnd += 1 }
        guard digitsEnd > 0 else { throw .badRequest("A chunk size is not a hexadecimal number.") }
        guard digitsEnd <= 15 else { throw .badRequest("A chunk size is too large.") }
        var rest = digitsEnd
        while rest < end, line[rest] == .space || line[rest] == .tab { rest += 1 }
        guard rest == end || line[rest] == UInt8(ascii: ";") else {
            throw .badRequest("A chunk size is not a hexadecimal number.")
        }
        guard !line[..<end].contains(.carriageReturn) else { throw .badRequest("A chunk-size line holds a bare CR.") }
        var size = 0
        for index in 0..<digitsEnd { size = size << 4 | Int(PercentEncoding.hexValue(line[index])!) }
        return size
    }
}
