import ArgumentParser
import Foundation

/// Root command. Subcommands live one per file.
struct VibeVoiceASRCommand: ParsableCommand {
    /// What `vibevoice-asr --version` prints.
    static let version = "vibevoice-asr 0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "vibevoice-asr",
        abstract: "Speaker-attributed, timestamped transcription with Microsoft's VibeVoice-ASR, natively.",
        version: VibeVoiceASRCommand.version,
        subcommands: [
            TranscribeCommand.self,
            ConvertCommand.self,
            ChatCommand.self,
            ScoreCommand.self,
            PromptCommand.self,
            TokenizeCommand.self,
            BenchCommand.self,
            QuantizeCommand.self,
            FidelityCommand.self,
            ServeCommand.self,
        ],
        defaultSubcommand: nil
    )
}

/// Exit codes (README): 0 success; 1 input or usage error; 2 model, tokenizer or download error;
/// anything else an internal failure.
@main
enum Entry {
    static func main() {
        BLASCoreRelaunch.relaunchIfNeeded()
        let command: ParsableCommand
        do {
            command = try VibeVoiceASRCommand.parseAsRoot()
        } catch {
            let code = VibeVoiceASRCommand.exitCode(for: error)
            if code == .success {
                VibeVoiceASRCommand.exit(withError: error)   // --help, --version
            }
            let message = VibeVoiceASRCommand.fullMessage(for: error)
            FileHandle.standardError.write(Data((message + "\n").utf8))
            exit(1)
        }
        do {
            var command = command
            try command.run()
        } catch let error as CleanExit {
            VibeVoiceASRCommand.exit(withError: error)
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch {
            // `parseAsRoot` answers `--help` with a help command whose `run()` throws the help request.
            if VibeVoiceASRCommand.exitCode(for: error) == .success {
                VibeVoiceASRCommand.exit(withError: error)
            }
            let (code, message) = CLIErrorReport.describe(error)
            FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
            exit(code)
        }
    }
}
