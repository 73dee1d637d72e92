import ArgumentParser
import Foundation
import JSONCore
import JSONata

/// `skiff jsonata`: evaluate a JSONata expression, as Step Functions' JSONata states do.
struct JSONataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jsonata",
        abstract: "Evaluate a JSONata expression against a JSON document.",
        discussion: """
            The input is --input FILE, or standard input when it is not a terminal, or none. Step Functions' \
            functions ($partition, $range, $hash, $random, $uuid, $parse) are available.

            Example:
              echo '{"args":["--date","2024-01-01"]}' | skiff jsonata '$count(args)'
            """
    )

    @Argument(help: "The JSONata expression.") var expression: String
    @Option(help: "A JSON file to evaluate against ('-' for standard input).") var input: String?
    @Option(help: "A JSON file of an object whose members are bound as variables ($name).") var bindings: String?
    @Flag(help: "Print the result on one line.") var compact = false

    func run() throws {
        let trimmed = expression.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{%"), trimmed.hasSuffix("%}"), trimmed.count >= 4 {
            let inner = trimmed.dropFirst(2).dropLast(2).trimmingCharacters(in: .whitespaces)
            throw CommandFailure(
                "{% %} marks JSONata inside a state machine's fields; give skiff jsonata the expression alone: skiff jsonata '\(inner)'")
        }
        let compiled: JSONataExpression
        do {
            compiled = try JSONataExpression(expression)
        } catch let error as JSONataError {
            throw CommandFailure("the expression does not compile: \(error)")
        }
        var variables: [String: JSON] = [:]
        if let bindings {
            guard case .object(let object) = try readJSON(bindings, what: "--bindings") else {
                throw CommandFailure("--bindings must hold a JSON object")
            }
            for (key, value) in object { variables[key] = value }
        }
        let document: JSON?
        if let input {
            document = try readJSON(input, what: "--input")
        } else if isatty(STDIN_FILENO) == 0 {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            document = data.isEmpty ? nil : try parse(data, what: "standard input")
        } else {
            document = nil
        }
        let environment = JSONataEnvironment(variables: variables, functions: JSONataFunctions.stepFunctions())
        do {
            guard let result = try compiled.evaluate(document, environment: environment) else {
                FileHandle.standardError.write(Data("(undefined)\n".utf8))
                return
            }
            print(result.serialized(compact ? .compact : .pretty))
        } catch let error as JSONataError {
            throw CommandFailure("evaluation failed: \(error)")
        }
    }

    func readJSON(_ path: String, what: String) throws -> JSON {
        try parse(Data(try CommandFailure.read(path, as: "the \(what) file")), what: path)
    }

    func parse(_ data: Data, what: String) throws -> JSON {
        do {
            return try JSON(parsing: data)
        } catch {
            throw CommandFailure("\(what) is not JSON: \(error)")
        }
    }
}
