using Exch.Dsr.Configuration;
using Exch.Dsr.Toml;
using Microsoft.Extensions.Configuration;

namespace Exch.Dsr.Configuration.Tests;

public sealed class TomlConfigurationProviderTests
{
    private const string Document = """
        [appliance]
        own-vips = true
        threads = 2

        [[server]]
        name = "CAS1"
        address = "10.0.0.11"

        [[service]]
        name = "outlook"
        vip = "10.0.0.10"
        ports = [135, 7575, 7576]
        scheduler = "wlc"
        members = []
        """;

    private string _directory = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "exch-dsr-config-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    private string Write(string text, string name = "exch-dsr.toml")
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Test]
    public void Tables_become_sections_and_arrays_become_indexes()
    {
        var configuration = new ConfigurationBuilder().AddTomlText(Document, "doc.toml").Build();

        Assert.That(configuration["appliance:own-vips"], Is.EqualTo("true"));
        Assert.That(configuration["appliance:threads"], Is.EqualTo("2"));
        Assert.That(configuration["server:0:name"], Is.EqualTo("CAS1"));
        Assert.That(configuration["service:0:ports:1"], Is.EqualTo("7575"));
        Assert.That(configuration.GetSection("service:0:ports").GetChildren().Select(c => c.Value), Is.EqualTo(new[] { "135", "7575", "7576" }));

        // An empty array still exists, so "members = []" is told apart from no members key.
        Assert.That(configuration.GetSection("service:0").GetChildren().Select(c => c.Key), Does.Contain("members"));
    }

    [Test]
    public void Source_map_gives_key_and_value_positions_and_the_toml_node()
    {
        var configuration = new ConfigurationBuilder().AddTomlText(Document, "doc.toml").Build();
        var provider = configuration.Providers.OfType<TomlConfigurationProvider>().Single();

        Assert.That(provider.TryGetSource("service:0:scheduler", out var scheduler), Is.True);
        Assert.That(scheduler!.File, Is.EqualTo("doc.toml"));
        Assert.That(scheduler.KeyName, Is.EqualTo("scheduler"));
        Assert.That(scheduler.KeyPosition, Is.EqualTo(new TomlPosition(13, 1)));
        Assert.That(scheduler.Node.Position, Is.EqualTo(new TomlPosition(13, 13)));

        Assert.That(provider.TryGetSource("SERVICE:0:PORTS:2", out var port), Is.True, "configuration keys ignore case");
        Assert.That(port!.Node.Position, Is.EqualTo(new TomlPosition(12, 21)));
        Assert.That(((TomlValue)port.Node).Kind, Is.EqualTo(TomlValueKind.Integer));

        Assert.That(provider.TryGetSource("service:0", out var table), Is.True);
        Assert.That(table!.Node, Is.InstanceOf<TomlTable>());
        Assert.That(provider.TryGetSource("service:0:nothing", out _), Is.False);
    }

    [Test]
    public void Environment_variable_overrides_the_file()
    {
        var path = Write(Document.Replace("members = []", "", StringComparison.Ordinal));
        const string prefix = "EXCHDSRTEST1_";
        Environment.SetEnvironmentVariable(prefix + "service__0__scheduler", "rr");
        try
        {
            var configuration = new ConfigurationBuilder().AddTomlFile(path).AddEnvironmentVariables(prefix).Build();
            var result = ExchDsrConfigLoader.Load(configuration);
            Assert.That(result.Errors, Is.Empty);
            Assert.That(result.Config!.Services[0].Scheduler, Is.EqualTo(SchedulerKind.RoundRobin));
        }
        finally
        {
            Environment.SetEnvironmentVariable(prefix + "service__0__scheduler", null);
        }
    }

    [Test]
    public void Bad_environment_override_is_reported_as_coming_from_the_environment()
    {
        var path = Write(Document.Replace("members = []", "", StringComparison.Ordinal));
        const string prefix = "EXCHDSRTEST2_";
        string[] names = [prefix + "service__0__scheduler", prefix + "service__0__check__rise", prefix + "service__0__schedular"];
        Environment.SetEnvironmentVariable(names[0], "fast");
        Environment.SetEnvironmentVariable(names[1], "x");
        Environment.SetEnvironmentVariable(names[2], "rr");
        try
        {
            var configuration = new ConfigurationBuilder().AddTomlFile(path).AddEnvironmentVariables(prefix).Build();
            var errors = ExchDsrConfigLoader.Load(configuration).Errors.Select(e => e.ToString());
            Assert.That(errors, Is.EquivalentTo(new[]
            {
                "environment variable EXCHDSRTEST2_service__0__scheduler: scheduler 'fast' is not one of rr, wrr, lc, wlc, sh, mh",
                "environment variable EXCHDSRTEST2_service__0__check__rise: rise must be a whole number, e.g. rise = 2; 'x' is not",
                "environment variable EXCHDSRTEST2_service__0__schedular: unknown key 'schedular' in [[service]] 'outlook'; did you mean 'scheduler'?",
            }));
        }
        finally
        {
            foreach (var name in names)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }
    }

    [Test]
    public void Command_line_overrides_the_file_and_is_named_in_errors()
    {
        var path = Write(Document.Replace("members = []", "", StringComparison.Ordinal));
        var good = new ConfigurationBuilder().AddTomlFile(path).AddCommandLine(["--service:0:scheduler=lc", "--service:0:ports:0=8443"]).Build();
        var result = ExchDsrConfigLoader.Load(good);
        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.Config!.Services[0].Scheduler, Is.EqualTo(SchedulerKind.LeastConnection));
        Assert.That(result.Config.Services[0].Ports, Is.EqualTo(new[] { 8443, 7575, 7576 }));

        var bad = new ConfigurationBuilder().AddTomlFile(path).AddCommandLine(["--service:0:ports:1=99999"]).Build();
        Assert.That(
            ExchDsrConfigLoader.Load(bad).Errors.Select(e => e.ToString()),
            Is.EqualTo(new[] { "command line --service:0:ports:1: port 99999 is out of range: allowed 1 to 65535" }));
    }

    [Test]
    public void Loader_overrides_win_and_untouched_keys_keep_file_positions()
    {
        var path = Write(Document.Replace("members = []", "persistence = \"5\"", StringComparison.Ordinal));
        var result = ExchDsrConfigLoader.Load(path, [new("service:0:scheduler", "nope")]);

        Assert.That(result.Errors.Select(e => e.ToString()), Is.EqualTo(new[]
        {
            $"{path}:14:15: persistence: duration '5' needs a unit: ms, s, m, h or d (e.g. \"5s\")",
            "override service:0:scheduler: scheduler 'nope' is not one of rr, wrr, lc, wlc, sh, mh",
        }));
    }

    [Test]
    public void Missing_file_is_one_clear_error_and_optional_means_empty()
    {
        var missing = Path.Combine(_directory, "nope.toml");
        Assert.That(ExchDsrConfigLoader.Load(missing).Errors.Select(e => e.ToString()), Is.EqualTo(new[] { $"{missing}: file not found" }));

        var configuration = new ConfigurationBuilder().AddTomlFile(missing, optional: true).Build();
        Assert.That(configuration.AsEnumerable(), Is.Empty);
    }

    [Test]
    public void Invalid_file_does_not_throw_from_build_and_the_loader_reports_only_its_syntax_error()
    {
        var path = Write("[[server]]\nname = \"CAS1\"\naddress = 10.0.0.11\n");
        var configuration = new ConfigurationBuilder().AddTomlFile(path).Build();
        var provider = configuration.Providers.OfType<TomlConfigurationProvider>().Single();
        Assert.That(provider.LoadError, Is.Not.Null);
        Assert.That(provider.HasLoaded, Is.False);

        var errors = ExchDsrConfigLoader.Load(configuration).Errors;
        Assert.That(errors, Has.Count.EqualTo(1), "no 'no [[server]]' noise after a syntax error");
        Assert.That((errors[0].Source, errors[0].Line), Is.EqualTo((path, 3)));
        Assert.That(errors[0].Column, Is.GreaterThan(0));
    }

    [Test]
    public void Files_saved_by_notepad_with_a_byte_order_mark_are_read()
    {
        var text = Document.Replace("members = []", "", StringComparison.Ordinal);
        foreach (var encoding in new System.Text.Encoding[] { new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true), System.Text.Encoding.Unicode, System.Text.Encoding.BigEndianUnicode })
        {
            var path = Path.Combine(_directory, $"bom-{encoding.WebName}.toml");
            File.WriteAllText(path, text, encoding);
            var result = ExchDsrConfigLoader.Load(path);
            Assert.That(result.Errors, Is.Empty, encoding.WebName);
            Assert.That(result.Config!.Services[0].Name, Is.EqualTo("outlook"), encoding.WebName);
        }
    }

    [Test]
    public void Invalid_utf8_is_reported_at_its_position()
    {
        var path = Path.Combine(_directory, "latin1.toml");
        File.WriteAllBytes(path, [.. "[[server]]\nname = \"CAS\""u8, 0xE9, .. "\"\n"u8]);
        var error = ExchDsrConfigLoader.Load(path).Errors.Single();
        Assert.That((error.Source, error.Line), Is.EqualTo((path, 2)));
        Assert.That(error.Message, Does.Contain("UTF-8"));
    }

    [Test]
    public void Reload_on_change_picks_up_a_new_file_and_keeps_the_old_keys_on_a_bad_one()
    {
        var path = Write(Document);
        using var configuration = (ConfigurationRoot)new ConfigurationBuilder().AddTomlFile(path, reloadOnChange: true).Build();
        var provider = configuration.Providers.OfType<TomlConfigurationProvider>().Single();

        WaitForReload(configuration, () => File.WriteAllText(path, Document.Replace("\"wlc\"", "\"sh\"", StringComparison.Ordinal)));
        Assert.That(configuration["service:0:scheduler"], Is.EqualTo("sh"));
        Assert.That(provider.LoadError, Is.Null);

        WaitForReload(configuration, () => File.WriteAllText(path, "[[server]\n"));
        Assert.That(configuration["service:0:scheduler"], Is.EqualTo("sh"), "a bad file must not drop the running configuration");
        Assert.That(provider.LoadError, Is.Not.Null);
        var reported = ExchDsrConfigLoader.Load(configuration).Errors.Select(e => e.ToString()).ToList();
        Assert.That(reported, Has.Some.Match($"^{System.Text.RegularExpressions.Regex.Escape(path)}:1:\\d+: .*could not be re-read; still running the previous version"));
    }

    private static void WaitForReload(IConfiguration configuration, Action change)
    {
        using var reloaded = new ManualResetEventSlim();
        using var registration = configuration.GetReloadToken().RegisterChangeCallback(_ => reloaded.Set(), null);
        change();
        Assert.That(reloaded.Wait(TimeSpan.FromSeconds(10)), Is.True, "no reload within 10 s of the file change");
    }
}
