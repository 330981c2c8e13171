using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Exch.Dsr.StatusPage.Tests;

/// <summary>
/// The page in a real headless Chromium (Debian's package; Playwright's own browser download is never needed because
/// the executable is given, and its driver ships in the NuGet package).
/// </summary>
[NonParallelizable]
public sealed class BrowserTests
{
    private const string Chromium = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private TestServer _server = null!;

    [OneTimeSetUp]
    public async Task LaunchAsync()
    {
        if (!File.Exists(Chromium))
        {
            Assert.Ignore($"{Chromium} is missing (Debian package chromium; tests/run.sh installs it)");
        }

        // Generous for a machine busy with the other test projects; a passing run takes well under a second per step.
        SetDefaultExpectTimeout(10_000);
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // Chromium's sandbox cannot start as root, which is how the tests run in CI.
            Args = ["--no-sandbox"],
            Timeout = 15_000,
        });
    }

    [OneTimeTearDown]
    public async Task CloseAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
        }

        _playwright?.Dispose();
    }

    [SetUp]
    public async Task StartAsync() => _server = await TestServer.StartAsync();

    [TearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    [Test]
    public async Task Drain_ClickedOnAMember_ReachesTheClusterAndShowsDrained()
    {
        var (page, problems) = await OpenAsync(new HttpCredentials { Username = TestServer.User, Password = TestServer.Password });
        var owa = page.Locator("section[data-service='owa-https']");
        var cas1 = owa.Locator("tr[data-server='CAS1']");

        await Expect(cas1.Locator(".state")).ToHaveTextAsync("UP");
        await Expect(owa.Locator("tr[data-server='CAS2'] .state")).ToHaveTextAsync("UNRESOLVED");
        await Expect(cas1).ToContainTextAsync("2.40 Mbit/s");
        await Expect(owa.Locator("h2")).ToContainTextAsync("persistence 4 h (7 entries)");

        await cas1.GetByRole(AriaRole.Button, new() { Name = "Drain" }).ClickAsync();

        await Expect(cas1.Locator(".state")).ToHaveTextAsync("DRAINED");
        await Expect(page.Locator("#result")).ToHaveTextAsync("CAS1 drained in owa-https");
        await Expect(page.Locator("section[data-service='smtp'] tr[data-server='CAS1'] .state")).ToHaveTextAsync("UP");
        Assert.That(_server.Control.Calls, Does.Contain("Drain CAS1 owa-https"));
        Assert.That(problems, Is.Empty, "no script errors or CSP violations");
    }

    [Test]
    public async Task Drain_WithAWrongPassword_ShowsTheRefusalAndChangesNothing()
    {
        // A wrong password rather than none: headless Chromium has no login box to cancel, so an unanswered challenge
        // would leave the request pending where a person would see the box.
        var (page, _) = await OpenAsync(new HttpCredentials { Username = TestServer.User, Password = "guess" });
        var cas2 = page.Locator("section[data-service='smtp'] tr[data-server='CAS2']");

        await cas2.GetByRole(AriaRole.Button, new() { Name = "Drain" }).ClickAsync();

        await Expect(page.Locator("#result")).ToContainTextAsync("refused (HTTP 401): wrong admin user name or password");
        await Expect(cas2.Locator(".state")).ToHaveTextAsync("UNRESOLVED");
        Assert.That(_server.Control.Calls.Where(c => c != "status"), Is.Empty);
    }

    [Test]
    public async Task Page_WhenExchDsrStopsAnswering_SaysSoAndKeepsTheLastFigures()
    {
        var (page, _) = await OpenAsync(credentials: null);
        await Expect(page.Locator("tr[data-server='CAS1']").First).ToBeVisibleAsync();

        _server.Control.Failure = new InvalidOperationException("data plane stopped");

        await Expect(page.Locator("#banner")).ToContainTextAsync("exch-dsr is not answering");
        await Expect(page.Locator("#banner")).ToContainTextAsync("internal error: data plane stopped");
        await Expect(page.Locator("tr[data-server='CAS1']").First).ToBeVisibleAsync();
    }

    private async Task<(IPage Page, List<string> Problems)> OpenAsync(HttpCredentials? credentials)
    {
        var context = await _browser!.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = _server.BaseAddress.ToString(),
            HttpCredentials = credentials,
        });
        context.SetDefaultTimeout(10_000);
        var page = await context.NewPageAsync();
        var problems = new List<string>();
        page.Console += (_, message) =>
        {
            // The browser reports the 401 the page handles itself as a failed resource; anything else is a fault.
            if (message.Type == "error" && !message.Text.Contains("401", StringComparison.Ordinal))
            {
                problems.Add(message.Text);
            }
        };
        page.PageError += (_, error) => problems.Add(error);
        await page.GotoAsync("/");
        return (page, problems);
    }
}
