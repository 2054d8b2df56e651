import Datasets
import Foundation
import HTTP

/// A dataset folder written for one download, streamed as a ustar archive of `name/...` a piece
/// at a time (at most 64 KiB of a file per piece), then removed: at the end, on a failure, or
/// when the client goes away. The folder was written whole before the response began, so the
/// archive holds one consistent export.
final class DatasetArchiveSource: ResponseBodySource, @unchecked Sendable {
    private let folder: String
    private let name: String
    /// What to remove when done: the folder, or the staging folder that holds it.
    private let removing: String
    // The connection calls `nextPiece` one call at a time, so this state needs no lock.
    private var files: [String]
    private var open: (handle: FileHandle, size: Int, sent: Int)?
    private var finished = false
    private static let pieceBytes = 64 * 1024

    /// `folder`'s files (README.md first, then the splits) under the archive folder `name`.
    init(folder: String, name: String, removing: String) throws {
        (self.folder, self.name, self.removing) = (folder, name, removing)
        let entries = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        files = entries.filter { $0 == "README.md" } + entries.filter { $0 != "README.md" }
    }

    func nextPiece(_ deliver: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) {
        do { deliver(.success(try piece())) } catch {
            remove()
            deliver(.failure(error))
        }
    }

    private func piece() throws -> [UInt8]? {
        if finished { return nil }
        if var current = open {
            let bytes = try current.handle.read(upToCount: min(Self.pieceBytes, current.size - current.sent)).map { [UInt8]($0) } ?? []
            current.sent += bytes.count
            guard !bytes.isEmpty, current.sent <= current.size else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: folder + "/" + (files.first ?? "")])
            }
            if current.sent == current.size {
                try current.handle.close()
                open = nil
                return bytes + TarHeader.padding(after: current.size)
            }
            open = current
            return bytes
        }
        guard !files.isEmpty else {
            finished = true
            remove()
            return TarHeader.endOfArchive
        }
        let file = files.removeFirst(), path = folder + "/" + file
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        let modified = Int((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
        let header = TarHeader.file(name: name + "/" + file, size: size, modificationTime: modified)
        if size > 0 { open = (try FileHandle(forReadingFrom: URL(fileURLWithPath: path)), size, 0) }
        return header
    }

    func cancel() { remove() }

    private func remove() {
        try? open?.handle.close()
        open = nil
        try? FileManager.default.removeItem(atPath: removing)
    }
}
