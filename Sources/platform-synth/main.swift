import Foundation
import Platform
import PlatformExample

// Synthesizes the example platform: platform-synth [--out folder] [--yaml]
// (stands in for `skiff synth` until the skiff command exists on this branch).
var out = "cdk.out"
var yaml = false
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--out", "-o":
        guard let v = args.next() else { FileHandle.standardError.write(Data("error: --out needs a folder\n".utf8)); exit(2) }
        out = v
    case "--yaml": yaml = true
    case "-h", "--help": print("usage: platform-synth [--out folder] [--yaml]"); exit(0)
    default: FileHandle.standardError.write(Data("error: unknown argument \(a)\n".utf8)); exit(2)
    }
}
do {
    let start = ContinuousClock.now
    let assembly = try ExamplePlatform.app.synthesize()
    let written = try AssemblyWriter.write(assembly, to: out, includeYAML: yaml)
    let elapsed = ContinuousClock.now - start
    for path in written { print(path) }
    print("synthesized \(assembly.stacks.count) stacks in \(elapsed)")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
