using System.Text.Json;
using Hive.Node.Cli;
using Xunit;

namespace Hive.Tests.Cli;

public sealed class NodeViewSpecs
{
    private static NodeView Node(string name, string scriptsJson) =>
        new(name, JsonDocument.Parse($$"""{"admission": "open", "scripts": {{scriptsJson}}}""").RootElement.Clone(), []);

    [Fact]
    public void The_catalogue_is_read_from_the_node_s_own_field()
    {
        var view = Node("a", """[{"name": "sample", "hash": "abc"}, {"name": "sleep", "hash": "def"}]""");

        Assert.Equal([("sample", "abc"), ("sleep", "def")], view.Scripts);
        Assert.Empty(new NodeView("old", null, []).Scripts);
    }

    [Fact]
    public void Scripts_that_differ_or_are_missing_between_nodes_are_named_and_equal_ones_are_not()
    {
        var nodes = new[]
        {
            Node("a", """[{"name": "sample", "hash": "1111111111"}, {"name": "resize", "hash": "2222"}]"""),
            Node("b", """[{"name": "sample", "hash": "1111111111"}, {"name": "resize", "hash": "3333"}, {"name": "extra", "hash": "4444"}]"""),
        };

        var differences = NodeView.CatalogDifferences(nodes);

        Assert.Equal(
        [
            "tasks/extra differs between nodes: a (missing), b 4444",
            "tasks/resize differs between nodes: a 2222, b 3333",
        ], differences);
        Assert.Empty(NodeView.CatalogDifferences([nodes[0], nodes[0] with { Node = "c" }]));
    }

    [Fact]
    public void A_node_with_an_empty_tasks_folder_is_reported_and_one_that_reports_no_catalogue_is_left_out()
    {
        var full = Node("a", """[{"name": "sample", "hash": "1111"}]""");
        var empty = Node("b", "[]");
        var old = new NodeView("c", JsonDocument.Parse("""{"admission": "open"}""").RootElement.Clone(), []);

        Assert.Equal(["tasks/sample differs between nodes: a 1111, b (missing)"], NodeView.CatalogDifferences([full, empty, old]));
        Assert.Empty(NodeView.CatalogDifferences([full, old]));
    }
}
