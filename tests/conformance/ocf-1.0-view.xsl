<?xml version="1.0"?>
<!--
  The OCF 1.0 view of an agent's meta-data: what remains once the
  constructs OCF 1.1 added are taken out (reloadable and unique-group
  parameters, select types with their options, the reload-agent action).
  ra-api-1.dtd and resource-agents' metadata.rng predate OCF 1.1; the rest
  of the meta-data must still be valid against them.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="xml" doctype-system="ra-api-1.dtd"/>
  <xsl:template match="@*|node()">
    <xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy>
  </xsl:template>
  <xsl:template match="parameter/@reloadable|parameter/@unique-group"/>
  <xsl:template match="content[@type='select']">
    <content type="string">
      <xsl:apply-templates select="@default"/>
    </content>
  </xsl:template>
  <xsl:template match="action[@name='reload-agent']"/>
</xsl:stylesheet>
