import Foundation
import TallyTestSupport
import Testing
@testable import TallyServer

@Suite("Resource locator")
struct ResourceLocatorTests {
    private func makeHome() throws -> String {
        let home = TemporaryFiles.path("tally-home")
        try FileManager.default.createDirectory(atPath: home + "/Public", withIntermediateDirectories: true)
        return home
    }

    @Test func flagWinsOverEverything() throws {
        let home = try makeHome()
        let locator = ResourceLocator(environment: ["TALLY_HOME": "/nowhere"], workingDirectory: "/", executablePath: "/bin/tally")
        #expect(try locator.locate("Public", explicitPath: home + "/Public") == home + "/Public")
    }

    @Test func tallyHomeComesBeforeTheWorkingDirectory() throws {
        let home = try makeHome()
        let locator = ResourceLocator(environment: ["TALLY_HOME": home], workingDirectory: "/", executablePath: "/bin/tally")
        #expect(try locator.locate("Public", explicitPath: nil) == home + "/Public")
    }

    @Test func findsThePackageRootAboveABuildFolder() throws {
        let home = try makeHome()
        try FileManager.default.createDirectory(atPath: home + "/.build/release", withIntermediateDirectories: true)
        let locator = ResourceLocator(environment: [:], workingDirectory: "/", executablePath: home + "/.build/release/tally")
        #expect(try locator.locate("Public", explicitPath: nil) == home + "/Public")
    }

    @Test func failureNamesEveryPathTried() {
        let locator = ResourceLocator(environment: ["TALLY_HOME": "/nowhere"], workingDirectory: "/also-nowhere", executablePath: "/bin/tally")
        #expect {
            try locator.locate("Migrations", explicitPath: nil)
        } throws: { error in
            let text = "\(error)"
            return text.contains("/nowhere/Migrations") && text.contains("/also-nowhere/Migrations") && text.contains("TALLY_HOME")
        }
    }
}
