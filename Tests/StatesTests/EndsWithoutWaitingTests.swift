import Testing

@testable import States

@Suite struct EndsWithoutWaitingTests {
    private func machine(_ text: String) throws -> StateMachine { try StateMachine(definition: text) }

    @Test func pureAcyclicMachinesEndWithoutWaiting() throws {
        #expect(
            try machine(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","End":true}}}"#).endsWithoutWaiting)
        // Two choices leading to the same state are no cycle.
        #expect(
            try machine(
                #"""
                {"StartAt":"C","States":{
                  "C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsPresent":true,"Next":"S"},{"Variable":"$.b","IsPresent":true,"Next":"S"}],"Default":"F"},
                  "S":{"Type":"Succeed"},"F":{"Type":"Fail","Error":"E"}}}
                """#
            ).endsWithoutWaiting)
    }

    @Test func loopsAndStatesThatWaitDoNot() throws {
        #expect(
            try !machine(
                #"""
                {"StartAt":"A","States":{"A":{"Type":"Pass","Next":"C"},
                  "C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericLessThan":3,"Next":"A"}],"Default":"S"},"S":{"Type":"Succeed"}}}
                """#
            ).endsWithoutWaiting)
        #expect(
            try !machine(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"W"},"W":{"Type":"Wait","Seconds":1,"End":true}}}"#)
                .endsWithoutWaiting)
        #expect(
            try !machine(#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true}}}"#)
                .endsWithoutWaiting)
        // A Wait state behind a Choice counts, even if no input would reach it.
        #expect(
            try !machine(
                #"""
                {"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.never","IsPresent":true,"Next":"W"}],"Default":"S"},
                  "W":{"Type":"Wait","Seconds":1,"Next":"S"},"S":{"Type":"Succeed"}}}
                """#
            ).endsWithoutWaiting)
    }
}
