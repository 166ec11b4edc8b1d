import ArgumentParser
import JobModel

/// The `stylefarm` command: every subcommand of the render farm in one binary.
public struct StyleFarmCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "stylefarm",
        abstract: "Neural style transfer (Gatys et al.) for print-size images, on one machine or a farm.",
        discussion: """
            Start with `stylefarm weights install` (once), then for example:
              stylefarm render Assets/demo/chelsea.png Assets/demo/hokusai_great_wave.jpg -o out.png
            Run `stylefarm help SUBCOMMAND` for the options of each subcommand.
            """,
        version: BuildInfo.description,
        subcommands: [
            RenderCommand.self, VideoCommand.self, CoordinatorCommand.self, WorkerCommand.self, SubmitCommand.self,
            WaitCommand.self, StatusCommand.self,
            JobsCommand.self, CancelCommand.self, PauseCommand.self, ResumeCommand.self, PriorityCommand.self,
            RetryCommand.self,
            RequeueCommand.self, DrainCommand.self, ClearBlocklistCommand.self, DashboardTokenCommand.self,
            KeygenCommand.self, FarmBenchCommand.self, PlanCommand.self, SeamsCommand.self, EvaluateCommand.self,
            MontageCommand.self, WeightsCommand.self, BenchCommand.self,
            BLASCommand.self
        ]
    )

    public init() {}

    /// The option that sets each field of a job description, by the field's dotted path.
    public static var jobFieldOptions: [String: String] { JobOptions.optionForField }
    /// A `--region COLOR=STYLES[:WEIGHT]` argument, as the job's region.
    public static func region(_ text: String) throws -> JobDescription.Region { try JobOptions.region(text) }
}
