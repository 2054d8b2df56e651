/// An ordered list of header fields. Names compare case-insensitively (RFC 9110 section 5.1);
/// a name may repeat, and `values(for:)` returns every occurrence in order.
public struct HTTPHeaders: Sendable, Sequence {
    public struct Field: Sendable, Equatable {
        public let name: String
        public let value: String

        /// Whether this field is called `other`, ignoring ASCII case, without allocating.
        func hasName(_ other: String) -> Bool {
            var left = name.utf8.makeIterator(), right = other.utf8.makeIterator()
            while true {
                switch (left.next(), right.next()) {
                case (nil, nil): return true
                case (let a?, let b?):
                    if a == b { continue }
                    // Different bytes match only as the two cases of one ASCII letter.
                    let lower = a | 0x20
                    guard lower == b | 0x20, lower >= UInt8(ascii: "a"), lower <= UInt8(ascii: "z") else { return false }
                default: return false
                }
            }
        }
    }

    private var fields: [Field] = []

    public init() {}

    public init(_ pairs: [(String, String)]) {
        for (name, value) in pairs { add(name: name, value: value) }
    }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    public mutating func add(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Replaces every field called `name` with one field, or removes them when `value` is nil.
    public subscript(name: String) -> String? {
        get { fields.first { $0.hasName(name) }?.value }
        set {
            fields.removeAll { $0.hasName(name) }
            if let newValue { fields.append(Field(name: name, value: newValue)) }
        }
    }

    public func values(for name: String) -> [String] {
        fields.filter { $0.hasName(name) }.map(\.value)
    }

    public func contains(_ name: String) -> Bool {
        fields.contains { $0.hasName(name) }
    }

    /// The comma-separated list elements of every field called `name`, trimmed and lowercased:
    /// how list-valued fields such as `Connection` and `Transfer-Encoding` are read (RFC 9110 5.6.1).
    public func listElements(for name: String) -> [String] {
        values(for: name).flatMap { value in
            value.split(separator: ",").map { $0.trimmingWhitespace().lowercased() }.filter { !$0.isEmpty }
        }
    }

    /// Mutating access for the parser, which appends continuation lines of obsolete line folding.
    mutating func appendToLastValue(_ continuation: String) -> Bool {
        guard let last = fields.popLast() else { return false }
        fields.append(Field(name: last.name, value: last.value + " " + continuation))
        return true
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        var view = self[...]
        while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" { view = view.dropLast() }
        return String(view)
    }
}
