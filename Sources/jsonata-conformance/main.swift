import Foundation
import JSONataConformance

// Runs the official JSONata test suite and prints `jsonata-conformance: N passed, M failed`, then the failures.
// Usage: jsonata-conformance [SUITE_DIR] [--quiet]
let arguments = CommandLine.arguments.dropFirst()
let quiet = arguments.contains("--quiet")
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let root =
    arguments.first { !$0.hasPrefix("--") }.map { URL(fileURLWithPath: $0) }
    ?? ConformanceSuite.defaultRoot(packageRoot: packageRoot)
let suite = ConformanceSuite(root: root)
guard suite.isAvailable else {
    FileHandle.standardError.write(Data("jsonata-conformance: no suite at \(root.path)\n".utf8))
    exit(2)
}
let outcomes = try suite.cases().map(ConformanceSuite.run)
let failures = outcomes.filter { !$0.passed }
if !quiet {
    for f in failures {
        print("FAIL \(f.testCase.id): \(f.testCase.expression.prefix(120).replacingOccurrences(of: "\n", with: " "))")
        print("     \(f.failure!.prefix(300))")
    }
}
print("jsonata-conformance: \(outcomes.count - failures.count) passed, \(failures.count) failed")
