/// Reads CSV as RFC 4180 defines it: records end with CRLF or LF, fields with a comma, a quoted
/// field may hold commas, quotes (doubled) and line breaks. Each record carries the line it
/// starts on, so problems can be reported where a spreadsheet shows them.
struct CSVReader {
    struct Record {
        let line: Int
        let fields: [String]
    }

    struct Malformed: Error {
        let line: Int
        let message: String
    }

    /// The records of `bytes`, skipping blank lines; a leading UTF-8 byte order mark is ignored.
    static func records(_ bytes: [UInt8]) throws(Malformed) -> [Record] {
        var position = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var line = 1
        var records: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var recordLine = 1
        var atFieldStart = true

        func finishField() throws(Malformed) {
            guard let text = String(validating: field, as: UTF8.self) else { throw Malformed(line: line, message: "not valid UTF-8") }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
            atFieldStart = true
        }
        func finishRecord() throws(Malformed) {
            try finishField()
            if !(fields.count == 1 && fields[0].isEmpty) { records.append(Record(line: recordLine, fields: fields)) }
            fields.removeAll()
        }

        while position < bytes.count {
            let byte = bytes[position]
            if atFieldStart && byte == UInt8(ascii: "\"") {
                // A quoted field runs to the quote not followed by another quote.
                position += 1
                while true {
                    guard position < bytes.count else { throw Malformed(line: recordLine, message: "a quoted field is never closed") }
                    let inner = bytes[position]
                    if inner == UInt8(ascii: "\"") {
                        if position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "\"") {
                            field.append(inner)
                            position += 2
                            continue
                        }
                        position += 1
                        break
                    }
                    if inner == UInt8(ascii: "\n") { line += 1 }
                    field.append(inner)
                    position += 1
                }
                atFieldStart = false
                guard position >= bytes.count || [UInt8(ascii: ","), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(bytes[position]) else {
                    throw Malformed(line: line, message: "a quoted field must be followed by a comma or the end of the line")
                }
                continue
            }
            switch byte {
            case UInt8(ascii: ","):
                try finishField()
                position += 1
            case UInt8(ascii: "\r") where position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "\n"):
                position += 1
            case UInt8(ascii: "\n"):
                try finishRecord()
                position += 1
                line += 1
                recordLine = line
            case UInt8(ascii: "\""):
                throw Malformed(line: line, message: "a quote inside an unquoted field; quote the whole field and double the quote")
            default:
                field.append(byte)
                atFieldStart = false
                position += 1
            }
        }
        if !field.isEmpty || !fields.isEmpty || !atFieldStart { try finishRecord() }
        return records
    }
}
