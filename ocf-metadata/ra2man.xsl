<?xml version="1.0"?>
<!-- Turns OCF resource agent meta-data into a man page (section 7). -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text" encoding="UTF-8"/>
<xsl:param name="provider" select="'vcha'"/>
<xsl:param name="package" select="'vcha'"/>

<!-- Escape for roff: backslashes, and a leading dot or quote. -->
<xsl:template name="roff">
  <xsl:param name="text"/>
  <xsl:variable name="t" select="normalize-space($text)"/>
  <xsl:if test="starts-with($t, '.') or starts-with($t, &quot;'&quot;)">
    <xsl:text>\&amp;</xsl:text>
  </xsl:if>
  <xsl:call-template name="backslashes">
    <xsl:with-param name="text" select="$t"/>
  </xsl:call-template>
</xsl:template>

<xsl:template name="backslashes">
  <xsl:param name="text"/>
  <xsl:choose>
    <xsl:when test="contains($text, '\')">
      <xsl:value-of select="substring-before($text, '\')"/>
      <xsl:text>\e</xsl:text>
      <xsl:call-template name="backslashes">
        <xsl:with-param name="text" select="substring-after($text, '\')"/>
      </xsl:call-template>
    </xsl:when>
    <xsl:otherwise><xsl:value-of select="$text"/></xsl:otherwise>
  </xsl:choose>
</xsl:template>

<xsl:template match="/resource-agent">
  <xsl:variable name="page"
      select="concat('ocf_', $provider, '_', @name)"/>
  <xsl:text>.TH "</xsl:text>
  <xsl:value-of select="translate($page, 'abcdefghijklmnopqrstuvwxyz',
                                         'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"/>
  <xsl:text>" 7 "" "</xsl:text>
  <xsl:value-of select="concat($package, ' ', @version)"/>
  <xsl:text>" "OCF resource agents"&#10;.SH NAME&#10;</xsl:text>
  <xsl:value-of select="$page"/>
  <xsl:text> \- </xsl:text>
  <xsl:call-template name="roff">
    <xsl:with-param name="text" select="shortdesc"/>
  </xsl:call-template>
  <xsl:text>&#10;.SH SYNOPSIS&#10;\fB</xsl:text>
  <xsl:value-of select="@name"/>
  <xsl:text>\fR [</xsl:text>
  <xsl:for-each select="actions/action[not(@name = preceding-sibling::action/@name)]">
    <xsl:if test="position() &gt; 1"><xsl:text> | </xsl:text></xsl:if>
    <xsl:value-of select="@name"/>
  </xsl:for-each>
  <xsl:text>]&#10;.SH DESCRIPTION&#10;</xsl:text>
  <xsl:call-template name="roff">
    <xsl:with-param name="text" select="longdesc"/>
  </xsl:call-template>
  <xsl:text>&#10;.SH PARAMETERS&#10;</xsl:text>
  <xsl:apply-templates select="parameters/parameter"/>
  <xsl:text>.SH ACTIONS&#10;</xsl:text>
  <xsl:apply-templates select="actions/action"/>
  <xsl:text>.SH EXAMPLE&#10;.nf&#10;pcs resource create my-</xsl:text>
  <xsl:value-of select="concat(@name, ' ocf:', $provider, ':', @name)"/>
  <xsl:for-each select="parameters/parameter[@required = '1']">
    <xsl:value-of select="concat(' ', @name, '=...')"/>
  </xsl:for-each>
  <xsl:text>&#10;.fi&#10;.SH SEE ALSO&#10;</xsl:text>
  <xsl:text>\fBpcs\fR(8), \fBcrm\fR(8), \fBcrm_resource\fR(8)&#10;</xsl:text>
</xsl:template>

<xsl:template match="parameter">
  <xsl:text>.TP&#10;\fB</xsl:text>
  <xsl:value-of select="@name"/>
  <xsl:text>\fR (</xsl:text>
  <xsl:value-of select="content/@type"/>
  <xsl:if test="@required = '1'"><xsl:text>, required</xsl:text></xsl:if>
  <xsl:if test="@unique = '1'"><xsl:text>, unique</xsl:text></xsl:if>
  <xsl:if test="@reloadable = '1'"><xsl:text>, reloadable</xsl:text></xsl:if>
  <xsl:if test="content/@default">
    <xsl:text>, default: </xsl:text>
    <xsl:value-of select="content/@default"/>
  </xsl:if>
  <xsl:text>)&#10;</xsl:text>
  <xsl:call-template name="roff">
    <xsl:with-param name="text" select="longdesc"/>
  </xsl:call-template>
  <xsl:if test="content/option">
    <xsl:text> One of:</xsl:text>
    <xsl:for-each select="content/option">
      <xsl:value-of select="concat(' ', @value)"/>
    </xsl:for-each>
    <xsl:text>.</xsl:text>
  </xsl:if>
  <xsl:text>&#10;</xsl:text>
</xsl:template>

<xsl:template match="action">
  <xsl:text>.TP&#10;\fB</xsl:text>
  <xsl:value-of select="@name"/>
  <xsl:text>\fR&#10;timeout </xsl:text>
  <xsl:value-of select="@timeout"/>
  <xsl:if test="@interval">
    <xsl:value-of select="concat(', interval ', @interval)"/>
  </xsl:if>
  <xsl:if test="@depth">
    <xsl:value-of select="concat(', depth ', @depth)"/>
  </xsl:if>
  <xsl:if test="@role">
    <xsl:value-of select="concat(', role ', @role)"/>
  </xsl:if>
  <xsl:text>&#10;</xsl:text>
</xsl:template>
</xsl:stylesheet>
