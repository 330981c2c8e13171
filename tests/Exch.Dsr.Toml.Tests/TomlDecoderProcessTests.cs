using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace Exch.Dsr.Toml.Tests;

/// <summary>Runs the built toml-test decoder as a real process, the way toml-test drives it.</summary>
[TestFixture]
public sealed class TomlDecoderProcessTests
{
    private const string DecoderAssembly = "exch-dsr-toml-decoder.dll";

    [Test]
    public void Valid_document_is_written_as_tagged_json_with_exit_code_0()
    {
        var (exitCode, stdout, stderr) = RunDecoder("port = 8080\n[pool]\nname = \"web\"\n");

        Assert.That(exitCode, Is.EqualTo(0), stderr);
        using var actual = JsonDocument.Parse(stdout);
        using var expected = JsonDocument.Parse("""
            {"port": {"type": "integer", "value": "8080"}, "pool": {"name": {"type": "string", "value": "web"}}}
            """);
        Assert.That(TaggedJsonComparer.Difference(expected.RootElement, actual.RootElement), Is.Null, stdout);
    }

    [Test]
    public void Invalid_document_exits_1_with_the_position_on_stderr()
    {
        var (exitCode, stdout, stderr) = RunDecoder("port = 8080\nport = 9090\n");

        Assert.That(exitCode, Is.EqualTo(1));
        Assert.That(stdout, Is.Empty);
        Assert.That(stderr.Trim(), Is.EqualTo("2:1: duplicate key 'port' (first defined at 1:1)"));
    }

    private static (int ExitCode, string Stdout, string Stderr) RunDecoder(string toml)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(DecoderPath());

        using var process = Process.Start(start) ?? throw new AssertionException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.BaseStream.Write(Encoding.UTF8.GetBytes(toml));
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            Assert.Fail("the decoder did not exit within 60 s");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The decoder built in the same configuration as this test assembly (recorded at build time).</summary>
    private static string DecoderPath()
    {
        var output = typeof(TomlDecoderProcessTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "TomlDecoderOutput").Value!;
        var path = Path.Combine(RepositoryPaths.RequireRoot(), output, DecoderAssembly);
        return File.Exists(path) ? path : throw new AssertionException($"the decoder was not built: {path} does not exist");
    }
}
