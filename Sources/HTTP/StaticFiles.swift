import Foundation
import Glibc

/// Serves the files under one directory for GET and HEAD, with content types, `ETag` and
/// `If-None-Match` revalidation (304), and no way out of the root: `..` segments, encoded
/// slashes, NUL bytes and symbolic links that lead outside are all refused.
public final class StaticFiles: Sendable {
    /// The root after resolving symbolic links; every served file's real path starts with it.
    public let root: String
    private let cache = Locked<[String: CachedFile]>([:])
    /// Files up to this size are kept in memory, revalidated against size and modification time.
    private static let maxCachedFileBytes = 1 << 20

    private struct CachedFile {
        let size: Int
        let modified: timespec
        let contents: [UInt8]
    }

    /// - Throws: when `root` does not exist or is not a directory.
    public init(root: String) throws {
        guard let resolved = realpath(root, nil) else {
            throw HTTPError(.internalServerError, code: "static_root_missing", message: "The static file directory \(root) does not exist.")
        }
        defer { free(resolved) }
        self.root = String(cString: resolved)
        var status = stat()
        guard stat(self.root, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw HTTPError(.internalServerError, code: "static_root_missing", message: "\(root) is not a directory.")
        }
    }

    public func respond(to request: Request) throws -> Response {
        for segment in request.pathSegments {
            if segment.utf8.contains(0) { throw HTTPError.badRequest("The path holds a NUL byte.") }
            // An encoded slash or a dot segment could step outside the root: refuse, never normalize.
            if segment == ".." || segment == "." || segment.contains("/") || segment.contains("\\") {
                throw HTTPError.notFound()
            }
            // Dot-files (an editor's swap file, a .git folder copied along) are never the UI.
            if segment.hasPrefix(".") { throw HTTPError.notFound("No file at \(request.path).") }
        }
        var path = root + "/" + request.pathSegments.joined(separator: "/")
        var status = stat()
        guard stat(path, &status) == 0 else { throw HTTPError.notFound("No file at \(request.path).") }
        if status.st_mode & S_IFMT == S_IFDIR {
            path += "/index.html"
            guard stat(path, &status) == 0 else { throw HTTPError.notFound("No file at \(request.path).") }
        }
        guard status.st_mode & S_IFMT == S_IFREG, isInsideRoot(path) else { throw HTTPError.notFound("No file at \(request.path).") }
        // A file has no folder below it: `/index.html/` names nothing.
        if request.path.hasSuffix("/"), !path.hasSuffix("/index.html") || request.path.hasSuffix(".html/") {
            throw HTTPError.notFound("No file at \(request.path).")
        }

        let etag = "\"\(String(status.st_size, radix: 16))-\(String(status.st_mtim.tv_sec, radix: 16))\(String(status.st_mtim.tv_nsec, radix: 16))\""
        var headers = HTTPHeaders()
        headers["ETag"] = etag
        // Revalidate every time: a new release of the UI must show at once, and a 304 is cheap.
        headers["Cache-Control"] = "no-cache"
        if let condition = request.headers["If-None-Match"],
           condition == "*" || condition.split(separator: ",").contains(where: { $0.trimmingWhitespace().replacingOccurrences(of: "W/", with: "") == etag }) {
            return Response(status: .notModified, headers: headers)
        }
        headers["Content-Type"] = Self.contentType(forPath: path)
        headers["X-Content-Type-Options"] = "nosniff"
        return Response(status: .ok, headers: headers, body: .bytes(try contents(of: path, status: status)))
    }

    private func isInsideRoot(_ path: String) -> Bool {
        guard let resolved = realpath(path, nil) else { return false }
        defer { free(resolved) }
        return String(cString: resolved).hasPrefix(root + "/")
    }

    private func contents(of path: String, status: stat) throws -> [UInt8] {
        let size = Int(status.st_size)
        if let cached = cache.withLock({ $0[path] }), cached.size == size,
           cached.modified.tv_sec == status.st_mtim.tv_sec, cached.modified.tv_nsec == status.st_mtim.tv_nsec {
            return cached.contents
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw HTTPError.notFound() }
        let contents = Array(data)
        if size <= Self.maxCachedFileBytes {
            cache.withLock { $0[path] = CachedFile(size: size, modified: status.st_mtim, contents: contents) }
        }
        return contents
    }

    static func contentType(forPath path: String) -> String {
        let fileExtension = path.split(separator: ".").last.map { $0.lowercased() } ?? ""
        switch fileExtension {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json": return "application/json"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "ico": return "image/x-icon"
        case "webp": return "image/webp"
        case "woff2": return "font/woff2"
        case "txt", "md": return "text/plain; charset=utf-8"
        case "yaml", "yml": return "application/yaml"
        case "csv": return "text/csv; charset=utf-8"
        case "jsonl": return "application/jsonl"
        default: return "application/octet-stream"
        }
    }
}
