import ECSService
import EventsService
import LocalCloud
import LogsService
import SchedulerService
import STSService
import StepFunctionsService
import TaskRunners

/// Every service the local cloud serves, built on one environment.
public enum ServiceCatalog {
    public static func services(environment: ServiceEnvironment) throws -> [any LocalService] {
        let configuration = environment.configuration
        let runner = SelectingRunner(
            process: ProcessRunner(
                images: ImageMap(configuration.imageDirectories),
                imageMapFile: configuration.stateDirectory.map { ImageMapFile.path(stateDirectory: $0) },
                taskOutputRoot: configuration.stateDirectory.map { TaskOutputFiles.root(stateDirectory: $0) }),
            engine: configuration.containerEngine.map { ContainerEngineRunner(cli: $0) })
        return [
            STSService(),
            LogsService(environment: environment),
            ECSService(environment: environment, runner: runner),
            StepFunctionsService(environment: environment),
            SchedulerService(environment: environment),
            EventsService(environment: environment),
        ]
    }
}
